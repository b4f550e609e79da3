package pgdb_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"email-alert/internal/lib/pgdb"
	"email-alert/internal/testkit/testdb"
)

// TestInTxAfterTheContextEnded: when the request's context ends during
// the transaction (its client went away), database/sql has rolled the
// transaction back; InTx says the context ended instead of attempting a
// commit ("transaction has already been committed or rolled back"), and
// nothing is stored.
func TestInTxAfterTheContextEnded(t *testing.T) {
	t.Parallel()
	_, dsn := testdb.Empty(t)
	db, err := pgdb.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE t (id bigint PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	err = pgdb.InTx(ctx, db, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO t VALUES (1)`); err != nil {
			return err
		}
		cancel() // the client goes away after the work, before the commit
		// database/sql rolls back a cancelled transaction from a goroutine
		// of its own; wait until it has, as the commit of a slow request
		// would find it.
		deadline := time.Now().Add(5 * time.Second)
		for {
			_, err := tx.Exec(`SELECT 1`)
			if errors.Is(err, sql.ErrTxDone) {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("the transaction was never rolled back: %w", err)
			}
			time.Sleep(time.Millisecond)
		}
	})
	if !errors.Is(err, context.Canceled) || strings.Contains(err.Error(), "already been committed") {
		t.Errorf("InTx = %v, want context.Canceled and no commit attempted", err)
	}
	var n int
	if err := db.Get(&n, `SELECT count(*) FROM t`); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d rows stored by a transaction whose context ended, want 0", n)
	}
}
