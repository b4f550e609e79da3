package pgdb_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lib/pq"

	"email-alert/internal/lib/pgdb"
	"email-alert/internal/testkit/testdb"
)

// TestStatementsArePreparedAgainAsTablesGrow: a statement first prepared
// while its table held a handful of rows gets a sequential-scan plan; once
// it is maxAge old it is prepared again, and PostgreSQL plans it for the
// table as it is now. It waits out the 10 s age.
//
// The plan is read with EXPLAIN EXECUTE of the connection's own prepared
// statement, not from pg_stat_user_tables: those counters reach the shared
// statistics late under load, so they cannot say which plan ran.
func TestStatementsArePreparedAgainAsTablesGrow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, dsn := testdb.Empty(t)
	db, err := pgdb.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err := db.Connx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	exec := func(query string) {
		t.Helper()
		if _, err := c.ExecContext(ctx, query); err != nil {
			t.Fatal(err)
		}
	}
	exec(`CREATE TABLE t (id bigint PRIMARY KEY, name text NOT NULL)`)
	exec(`INSERT INTO t SELECT i, 'n' || i FROM generate_series(1, 10) i`)
	exec(`ANALYZE t`)

	const lookup = `SELECT name FROM t WHERE id = $1`
	// plan runs the lookup ten times, past the five executions after which
	// PostgreSQL settles on a generic plan when it is no dearer, and returns
	// the name of the statement it ran as and the plan its next run uses.
	plan := func() (name, plan string) {
		t.Helper()
		for i := range 10 {
			var got string
			if err := c.GetContext(ctx, &got, lookup, i+1); err != nil {
				t.Fatal(err)
			}
		}
		err := c.GetContext(ctx, &name,
			`SELECT name FROM pg_prepared_statements WHERE statement = $1 AND NOT from_sql`, lookup)
		if err != nil {
			t.Fatalf("the lookup is not a prepared statement on its connection: %v", err)
		}
		var lines []string
		if err := c.SelectContext(ctx, &lines, `EXPLAIN (COSTS OFF) EXECUTE `+pq.QuoteIdentifier(name)+`(1)`); err != nil {
			t.Fatal(err)
		}
		return name, strings.Join(lines, "\n")
	}

	first, small := plan()
	if !strings.Contains(small, "Seq Scan on t") {
		t.Fatalf("the lookup in a 10-row table is planned as\n%s\nthe test needs a plan that scans", small)
	}
	exec(`INSERT INTO t SELECT i, 'n' || i FROM generate_series(11, 100000) i`)
	time.Sleep(10 * time.Second)
	second, large := plan()
	if second == first {
		t.Errorf("the lookup still runs as statement %q, prepared over 10 s ago", first)
	}
	if strings.Contains(large, "Seq Scan") || !strings.Contains(large, "Index Scan") {
		t.Errorf("after the table grew the lookup is planned as\n%s\nwant an index scan", large)
	}
}
