package pgdb

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// InTx runs fn in a transaction on db, committing when fn returns nil and
// rolling back otherwise. It is the one place a transaction is begun and
// ended; a package with a policy of its own on top (subscribers.Store.InTx
// maps constraint violations and retries lost races) wraps it.
func InTx(ctx context.Context, db *sqlx.DB, fn func(tx *sqlx.Tx) error) error {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	// A context that ended (the client went away) has had database/sql
	// roll the transaction back already: say so, rather than commit into
	// "transaction has already been committed or rolled back".
	if err := ctx.Err(); err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("not committed: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
