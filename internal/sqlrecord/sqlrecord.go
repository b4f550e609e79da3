// Package sqlrecord opens PostgreSQL connections (lib/pq) that remember
// every statement sent through them, so a test can drive the application
// and then look at what it asked of the database (its query plans, for
// one). Nothing is registered with database/sql: each Open builds its own
// connector, and the connections behave exactly as lib/pq's own.
package sqlrecord

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"slices"
	"sync"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Statement is one query or command as the driver received it: the SQL
// text and its arguments after database/sql converted them to driver
// values.
type Statement struct {
	Query string
	Args  []driver.NamedValue
}

// Recorder holds the statements of the connections Open made, in the order
// they were sent. It is safe for concurrent use.
type Recorder struct {
	mu         sync.Mutex
	statements []Statement
}

// Statements returns a copy of the statements recorded since Open or the
// last Reset.
func (r *Recorder) Statements() []Statement {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.statements)
}

// Reset forgets the statements recorded so far.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.statements = nil
}

func (r *Recorder) record(query string, args []driver.NamedValue) {
	s := Statement{Query: query, Args: make([]driver.NamedValue, len(args))}
	for i, a := range args {
		if b, ok := a.Value.([]byte); ok {
			a.Value = slices.Clone(b) // the caller may reuse its buffer
		}
		s.Args[i] = a
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.statements = append(r.statements, s)
}

// Open returns a pool of lib/pq connections to dsn whose queries and
// commands (QueryContext and ExecContext, which is how database/sql and
// sqlx send every statement that is not explicitly prepared) are recorded
// in the returned Recorder before they are sent. Like sql.Open it does not
// connect; the first statement does.
func Open(dsn string) (*sqlx.DB, *Recorder, error) {
	base, err := pq.NewConnector(dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("sqlrecord: %w", err)
	}
	r := &Recorder{}
	return sqlx.NewDb(sql.OpenDB(&connector{base: base, recorder: r}), "postgres"), r, nil
}

type connector struct {
	base     driver.Connector
	recorder *Recorder
}

func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := c.base.Connect(ctx)
	if err != nil {
		return nil, err
	}
	pc, ok := dc.(pqConn)
	if !ok {
		_ = dc.Close()
		return nil, fmt.Errorf("sqlrecord: %T lacks an interface lib/pq's connection implements", dc)
	}
	return &conn{pqConn: pc, recorder: c.recorder}, nil
}

func (c *connector) Driver() driver.Driver { return c.base.Driver() }

// pqConn is every interface lib/pq's connection implements. Embedding it
// in conn passes each of them through unchanged, so database/sql treats
// the wrapped connection exactly as it would lib/pq's (argument
// conversion, pings, transactions with options, session resets).
type pqConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.QueryerContext
	driver.ExecerContext
	driver.NamedValueChecker
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// conn records each statement, then hands it to lib/pq.
type conn struct {
	pqConn
	recorder *Recorder
}

var _ pqConn = (*conn)(nil)

func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	c.recorder.record(query, args)
	return c.pqConn.QueryContext(ctx, query, args)
}

func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	c.recorder.record(query, args)
	return c.pqConn.ExecContext(ctx, query, args)
}
