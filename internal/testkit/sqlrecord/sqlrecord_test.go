package sqlrecord_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/lib/pq"

	"email-alert/internal/testkit/sqlrecord"
	"email-alert/internal/testkit/testdb"
)

func open(t *testing.T) (*sqlrecord.Recorder, func(query string, args ...any) error) {
	t.Helper()
	t.Parallel()
	_, dsn := testdb.Empty(t)
	db, rec, err := sqlrecord.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.PingContext(context.Background()); err != nil {
		t.Fatalf("ping: %v", err)
	}
	exec := func(query string, args ...any) error {
		_, err := db.ExecContext(context.Background(), query, args...)
		return err
	}
	if err := exec(`CREATE TABLE t (id bigint PRIMARY KEY, tags text[], data bytea)`); err != nil {
		t.Fatal(err)
	}
	rec.Reset()
	return rec, exec
}

func TestRecordsStatementsWithTheirArguments(t *testing.T) {
	rec, exec := open(t)
	if err := exec(`INSERT INTO t (id, tags, data) VALUES ($1, $2, $3)`, 7, []string{"a", "b"}, []byte{1, 2}); err != nil {
		t.Fatal(err)
	}
	if err := exec(`UPDATE t SET tags = '{}' WHERE id = $1`, int64(7)); err != nil {
		t.Fatal(err)
	}
	want := []sqlrecord.Statement{
		{Query: `INSERT INTO t (id, tags, data) VALUES ($1, $2, $3)`, Args: []driver.NamedValue{
			{Ordinal: 1, Value: int64(7)},
			// lib/pq's own argument conversion still applies: a slice
			// becomes a PostgreSQL array.
			{Ordinal: 2, Value: `{"a","b"}`},
			{Ordinal: 3, Value: []byte{1, 2}},
		}},
		{Query: `UPDATE t SET tags = '{}' WHERE id = $1`, Args: []driver.NamedValue{{Ordinal: 1, Value: int64(7)}}},
	}
	if diff := cmp.Diff(want, rec.Statements()); diff != "" {
		t.Errorf("statements (-want +got):\n%s", diff)
	}
	rec.Reset()
	if got := rec.Statements(); len(got) != 0 {
		t.Errorf("after Reset: %d statements, want none", len(got))
	}
}

func TestBehavesAsLibPQ(t *testing.T) {
	for _, tt := range []struct {
		name  string
		query string
		args  []any
		check func(error) bool
	}{
		{"succeeds", `INSERT INTO t (id) VALUES ($1)`, []any{1}, func(err error) bool { return err == nil }},
		{"constraint violations are *pq.Error", `INSERT INTO t (id) VALUES (1), (1)`, nil, func(err error) bool {
			var pqErr *pq.Error
			return errors.As(err, &pqErr) && pqErr.Code == "23505"
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec, exec := open(t)
			if err := exec(tt.query, tt.args...); !tt.check(err) {
				t.Errorf("%s: unexpected error %v", tt.query, err)
			}
			if got := rec.Statements(); len(got) != 1 || got[0].Query != tt.query {
				t.Errorf("recorded %+v, want the one statement", got)
			}
		})
	}
}

func TestTransactionsKeepTheirOptions(t *testing.T) {
	t.Parallel()
	_, dsn := testdb.Empty(t)
	db, rec, err := sqlrecord.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	tx, err := db.BeginTxx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	var readOnly string
	if err := tx.GetContext(ctx, &readOnly, `SHOW transaction_read_only`); err != nil {
		t.Fatal(err)
	}
	if readOnly != "on" {
		t.Errorf("transaction_read_only = %q, want on", readOnly)
	}
	if got := rec.Statements(); len(got) != 1 || got[0].Query != `SHOW transaction_read_only` {
		t.Errorf("recorded %+v, want the SHOW alone (lib/pq sends BEGIN itself)", got)
	}
}
