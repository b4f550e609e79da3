package migrations

import (
	"context"
	"database/sql"
)

// Reapply runs migration version down and up again, so that a test can
// give a data migration rows to repair.
func Reapply(ctx context.Context, db *sql.DB, version int64) error {
	p, err := provider(ctx, db)
	if err != nil {
		return err
	}
	if _, err := p.ApplyVersion(ctx, version, false); err != nil {
		return err
	}
	_, err = p.ApplyVersion(ctx, version, true)
	return err
}
