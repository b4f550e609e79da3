// Package migrations holds the database schema as append-only goose
// migrations embedded in the binary, and the check every serving process
// runs before it starts: the schema must be exactly as new as the binary.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"hash/fnv"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed *.sql
var files embed.FS

func provider(ctx context.Context, db *sql.DB) (*goose.Provider, error) {
	// Migrations of one schema are serialised; different schemas (tests
	// run each in its own) do not wait for each other.
	var schema string
	if err := db.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return nil, fmt.Errorf("migrations: current schema: %w", err)
	}
	h := fnv.New64a()
	h.Write([]byte("email-alert migrations " + schema))
	locker, err := lock.NewPostgresSessionLocker(
		lock.WithLockID(int64(h.Sum64()>>1)), // any fixed non-negative id
		lock.WithLockTimeout(1, 300),         // poll every second, for up to 5 minutes
	)
	if err != nil {
		return nil, fmt.Errorf("migrations: locker: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, files, goose.WithSessionLocker(locker))
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return p, nil
}

// Up applies every pending migration, each in its own transaction. Concurrent
// callers are serialised by a PostgreSQL advisory lock.
func Up(ctx context.Context, db *sql.DB) ([]*goose.MigrationResult, error) {
	p, err := provider(ctx, db)
	if err != nil {
		return nil, err
	}
	results, err := p.Up(ctx)
	if err != nil {
		return results, fmt.Errorf("migrations: up: %w", err)
	}
	return results, nil
}

// UpTo applies the pending migrations up to and including version: for
// tests that put rows in an older schema and check what a later migration
// makes of them.
func UpTo(ctx context.Context, db *sql.DB, version int64) error {
	p, err := provider(ctx, db)
	if err != nil {
		return err
	}
	if _, err := p.UpTo(ctx, version); err != nil {
		return fmt.Errorf("migrations: up to %d: %w", version, err)
	}
	return nil
}

// ErrOutOfDate is returned by Check when the database schema is older (or
// newer) than the one this binary was built with.
type ErrOutOfDate struct {
	Database, Binary int64
}

func (e *ErrOutOfDate) Error() string {
	return fmt.Sprintf("database schema is at version %d but this binary needs version %d: run `email-alert migrate`",
		e.Database, e.Binary)
}

// Check returns *ErrOutOfDate unless the database has exactly the migrations
// embedded in this binary applied.
func Check(ctx context.Context, db *sql.DB) error {
	p, err := provider(ctx, db)
	if err != nil {
		return err
	}
	current, target, err := p.GetVersions(ctx)
	if err != nil {
		return fmt.Errorf("migrations: reading schema version: %w", err)
	}
	if current != target {
		return &ErrOutOfDate{Database: current, Binary: target}
	}
	return nil
}
