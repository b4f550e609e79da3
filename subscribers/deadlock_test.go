package subscribers_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jmoiron/sqlx"

	"email-alert/internal/testkit/testdb"
	"email-alert/subscribers"
)

// TestInTxRetriesADeadlockVictim: two transactions lock two rows in
// opposite orders. PostgreSQL rolls one back as a deadlock's victim; InTx
// runs it again once the other has committed, and both changes land.
func TestInTxRetriesADeadlockVictim(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := testdb.New(t)
	store := subscribers.NewStore(db, nil)
	if _, err := db.ExecContext(ctx, `CREATE TABLE pair (id int PRIMARY KEY, n int NOT NULL);
		INSERT INTO pair VALUES (1, 0), (2, 0)`); err != nil {
		t.Fatal(err)
	}
	var (
		firstLocks sync.WaitGroup // both hold their first row before either asks for its second
		attempts   atomic.Int32
		wg         sync.WaitGroup
		errs       [2]error
	)
	firstLocks.Add(2)
	for i, order := range [][2]int{{1, 2}, {2, 1}} {
		wg.Go(func() {
			first := true
			errs[i] = store.InTx(ctx, func(tx *sqlx.Tx) error {
				attempts.Add(1)
				for j, id := range order {
					if _, err := tx.ExecContext(ctx, `UPDATE pair SET n = n + 1 WHERE id = $1`, id); err != nil {
						return err
					}
					if j == 0 && first {
						first = false
						firstLocks.Done()
						firstLocks.Wait()
					}
				}
				return nil
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("transaction %d: %v", i, err)
		}
	}
	var total int
	if err := db.GetContext(ctx, &total, `SELECT sum(n) FROM pair`); err != nil {
		t.Fatal(err)
	}
	if total != 4 || attempts.Load() != 3 {
		t.Errorf("rows incremented %d times in %d attempts, want 4 in 3 (one deadlock, one retry)", total, attempts.Load())
	}
}
