// Package pgdb opens PostgreSQL the way every email-alert process talks to
// it: lib/pq with binary parameters (one round trip per query) and, on each
// connection, every parameterised statement prepared once and reused, so
// PostgreSQL plans a hot query once per connection instead of on every
// request. The statements are the application's ordinary queries; callers
// use the returned *sqlx.DB as they would any other.
//
// Both were measured with `make bench`; see BENCHMARKS.md.
package pgdb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// maxStatementAge is how long a statement is used before it is prepared
// again. PostgreSQL plans a prepared statement for the table sizes it
// sees then, and keeps a generic plan until something invalidates it: a
// statement first run while a table was nearly empty would otherwise scan
// that table sequentially long after it has grown (measured by the
// benchmark: 62,553 sequential scans of the account events' cursors, 3.1
// billion rows read, during one run). Preparing again every few seconds
// costs a round trip per statement and connection.
const maxStatementAge = 10 * time.Second

// maxStatements bounds the statements kept per connection. The service has
// about a hundred distinct queries; a query built with a varying number of
// arguments could otherwise grow the cache without end.
const maxStatements = 256

// Open returns a pool of connections to dsn. Like sql.Open it does not
// connect; the first statement does.
func Open(dsn string) (*sqlx.DB, error) {
	c, err := NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return sqlx.NewDb(sql.OpenDB(c), "postgres"), nil
}

// NewConnector returns the connector behind Open, for code that wraps its
// connections further (a test recording every statement). Its connections
// implement Conn.
func NewConnector(dsn string) (driver.Connector, error) {
	base, err := pq.NewConnector(withBinaryParameters(dsn))
	if err != nil {
		return nil, fmt.Errorf("pgdb: %w", err)
	}
	return &connector{base: base}, nil
}

// withBinaryParameters asks lib/pq to send each parameterised query as one
// Parse/Bind/Execute exchange instead of two round trips (prepare, then
// execute), unless the DSN says otherwise. It also makes prepared
// statements send their arguments without a round trip to learn their
// types.
func withBinaryParameters(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		// A key=value DSN: lib/pq reads the setting from it as well.
		if strings.Contains(dsn, "binary_parameters") {
			return dsn
		}
		return dsn + " binary_parameters=yes"
	}
	q := u.Query()
	if !q.Has("binary_parameters") {
		q.Set("binary_parameters", "yes")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

type connector struct{ base driver.Connector }

func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := c.base.Connect(ctx)
	if err != nil {
		return nil, err
	}
	pc, ok := dc.(Conn)
	if !ok {
		_ = dc.Close()
		return nil, fmt.Errorf("pgdb: %T lacks an interface lib/pq's connection implements", dc)
	}
	return &conn{Conn: pc, statements: map[string]prepared{}}, nil
}

func (c *connector) Driver() driver.Driver { return c.base.Driver() }

// Conn is every interface lib/pq's connection implements, and so a pgdb
// connection. Embedding it passes each of them through unchanged (argument
// conversion, pings, transactions with options, session resets).
type Conn interface {
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

// statement is what lib/pq's prepared statements implement.
type statement interface {
	driver.Stmt
	driver.StmtQueryContext
	driver.StmtExecContext
}

// conn runs parameterised queries through statements prepared on it.
// database/sql uses a connection from one goroutine at a time, so the map
// needs no lock.
type conn struct {
	Conn
	statements map[string]prepared // by query text
}

type prepared struct {
	statement
	at time.Time
}

var _ Conn = (*conn)(nil)

func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if len(args) == 0 {
		// The simple protocol: one round trip, and it allows several
		// statements in one string (migrations, setup).
		return c.Conn.QueryContext(ctx, query, args)
	}
	st, err := c.prepare(ctx, query)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, args)
	c.forgetIfStale(query, err)
	return rows, err
}

func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if len(args) == 0 {
		return c.Conn.ExecContext(ctx, query, args)
	}
	st, err := c.prepare(ctx, query)
	if err != nil {
		return nil, err
	}
	res, err := st.ExecContext(ctx, args)
	c.forgetIfStale(query, err)
	return res, err
}

// prepare returns query's statement on this connection, preparing it the
// first time and again once it is maxStatementAge old.
func (c *conn) prepare(ctx context.Context, query string) (statement, error) {
	if st, ok := c.statements[query]; ok {
		if time.Since(st.at) < maxStatementAge {
			return st, nil
		}
		delete(c.statements, query)
		if err := st.Close(); err != nil {
			return nil, err
		}
	}
	if len(c.statements) >= maxStatements {
		for q, st := range c.statements { // evict one, whichever
			delete(c.statements, q)
			if err := st.Close(); err != nil {
				return nil, err
			}
			break
		}
	}
	ds, err := c.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	st, ok := ds.(statement)
	if !ok {
		_ = ds.Close()
		return nil, fmt.Errorf("pgdb: %T lacks an interface lib/pq's statement implements", ds)
	}
	c.statements[query] = prepared{statement: st, at: time.Now()}
	return st, nil
}

// forgetIfStale drops a statement PostgreSQL can no longer run as prepared:
// a migration changed the columns it returns, or the server lost it. The
// failing call returns its error; the next one prepares the query afresh.
func (c *conn) forgetIfStale(query string, err error) {
	var pqErr *pq.Error
	if !errors.As(err, &pqErr) {
		return
	}
	switch pqErr.Code {
	case "0A000": // feature_not_supported: "cached plan must not change result type"
		if st, ok := c.statements[query]; ok {
			_ = st.Close()
		}
		delete(c.statements, query)
	case "26000": // invalid_sql_statement_name: the server has no such statement
		delete(c.statements, query)
	}
}
