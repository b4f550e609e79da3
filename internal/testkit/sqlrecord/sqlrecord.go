// Package sqlrecord opens PostgreSQL connections that remember every
// statement sent through them, so a test can drive the application and
// then look at what it asked of the database (its query plans, for one).
// Nothing is registered with database/sql: each Open builds its own
// connector on the service's own (internal/lib/pgdb), so the connections
// behave exactly as the service's.
package sqlrecord

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"slices"
	"sync"

	"github.com/jmoiron/sqlx"

	"email-alert/internal/lib/pgdb"
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

// Open returns a pool of pgdb connections to dsn whose queries and
// commands (QueryContext and ExecContext, which is how database/sql and
// sqlx send every statement that is not explicitly prepared) are recorded
// in the returned Recorder before they are sent. Like sql.Open it does not
// connect; the first statement does.
func Open(dsn string) (*sqlx.DB, *Recorder, error) {
	base, err := pgdb.NewConnector(dsn)
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
	pc, ok := dc.(pgdb.Conn)
	if !ok {
		_ = dc.Close()
		return nil, fmt.Errorf("sqlrecord: %T is not a pgdb.Conn", dc)
	}
	return &conn{Conn: pc, recorder: c.recorder}, nil
}

func (c *connector) Driver() driver.Driver { return c.base.Driver() }

// conn records each statement, then hands it to pgdb's connection.
type conn struct {
	pgdb.Conn
	recorder *Recorder
}

var _ pgdb.Conn = (*conn)(nil)

func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	c.recorder.record(query, args)
	return c.Conn.QueryContext(ctx, query, args)
}

func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	c.recorder.record(query, args)
	return c.Conn.ExecContext(ctx, query, args)
}
