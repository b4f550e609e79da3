package pgdb_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"email-alert/internal/lib/pgdb"
	"email-alert/internal/testkit/testdb"
)

// conn returns one connection of a pgdb pool on an empty schema, with a
// table t, so a test can see what was prepared on it.
func conn(t *testing.T) *sqlx.Conn {
	t.Helper()
	t.Parallel()
	_, dsn := testdb.Empty(t)
	db, err := pgdb.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c, err := db.Connx(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.ExecContext(context.Background(), `CREATE TABLE t (id bigint PRIMARY KEY, name text NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	return c
}

func prepared(t *testing.T, c *sqlx.Conn) []string {
	t.Helper()
	var statements []string
	if err := c.SelectContext(context.Background(), &statements,
		`SELECT statement FROM pg_prepared_statements ORDER BY statement`); err != nil {
		t.Fatal(err)
	}
	return statements
}

func TestParameterisedQueriesArePreparedOncePerConnection(t *testing.T) {
	c := conn(t)
	ctx := context.Background()
	for i := range 5 {
		if _, err := c.ExecContext(ctx, `INSERT INTO t (id, name) VALUES ($1, $2)`, i, fmt.Sprint("n", i)); err != nil {
			t.Fatal(err)
		}
		var name string
		if err := c.GetContext(ctx, &name, `SELECT name FROM t WHERE id = $1`, i); err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprint("n", i); name != want {
			t.Fatalf("name %q, want %q", name, want)
		}
	}
	got := prepared(t, c)
	want := []string{`INSERT INTO t (id, name) VALUES ($1, $2)`, `SELECT name FROM t WHERE id = $1`}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("prepared statements %q, want %q", got, want)
	}
}

func TestErrorsAndTransactionsBehaveAsLibPQ(t *testing.T) {
	c := conn(t)
	ctx := context.Background()
	tx, err := c.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO t (id, name) VALUES ($1, $2)`, 1, "a"); err != nil {
		t.Fatal(err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO t (id, name) VALUES ($1, $2)`, 1, "again")
	var pqErr *pq.Error
	if !errors.As(err, &pqErr) || pqErr.Code != "23505" {
		t.Fatalf("duplicate key: err %v, want a unique violation", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	// The statement outlives the rolled-back transaction and still works.
	if _, err := c.ExecContext(ctx, `INSERT INTO t (id, name) VALUES ($1, $2)`, 1, "b"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := c.GetContext(ctx, &n, `SELECT count(*) FROM t WHERE name = $1`, "b"); err != nil || n != 1 {
		t.Fatalf("count %d, err %v; want 1 row", n, err)
	}
	if _, err := c.ExecContext(ctx, `SELEKT $1`, 1); err == nil {
		t.Error("a syntax error was not reported")
	}
}

func TestStatementWhoseResultChangedIsPreparedAgain(t *testing.T) {
	c := conn(t)
	ctx := context.Background()
	if _, err := c.ExecContext(ctx, `INSERT INTO t (id, name) VALUES (1, 'a')`); err != nil {
		t.Fatal(err)
	}
	var row map[string]any
	read := func() error {
		row = map[string]any{}
		return c.QueryRowxContext(ctx, `SELECT * FROM t WHERE id = $1`, 1).MapScan(row)
	}
	if err := read(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExecContext(ctx, `ALTER TABLE t ADD COLUMN extra text NOT NULL DEFAULT 'x'`); err != nil {
		t.Fatal(err)
	}
	// PostgreSQL refuses the old plan once ("cached plan must not change
	// result type"); the next call prepares the query again.
	if err := read(); err == nil {
		t.Log("read after ALTER succeeded at once")
		if _, ok := row["extra"]; !ok {
			t.Fatalf("read after ALTER returned %v without the new column", row)
		}
		return
	}
	if err := read(); err != nil {
		t.Fatalf("second read after ALTER: %v", err)
	}
	if row["extra"] != "x" {
		t.Errorf("row %v, want extra = x", row)
	}
}

func TestStatementsPerConnectionAreBounded(t *testing.T) {
	c := conn(t)
	ctx := context.Background()
	for i := range 300 {
		var n int
		if err := c.GetContext(ctx, &n, fmt.Sprintf(`SELECT $1::int + %d`, i), 1); err != nil {
			t.Fatal(err)
		}
		if n != i+1 {
			t.Fatalf("query %d returned %d", i, n)
		}
	}
	if got := len(prepared(t, c)); got > 256 || got < 200 {
		t.Errorf("%d statements prepared on the connection, want at most 256 (and most of them kept)", got)
	}
}
