// Package testdb gives integration tests a real PostgreSQL schema and Redis
// of their own. Tests fail, never skip, when either is missing: run
// `make test`, which starts them.
package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq" // the PostgreSQL driver
	"github.com/redis/go-redis/v9"

	"email-alert/internal/lib/pgdb"
	"email-alert/migrations"
)

// URL returns the base URL of the test database: TEST_DATABASE_URL, or
// the local email_alert_test database that `make test` creates.
func URL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres:///email_alert_test?sslmode=disable"
}

// New returns a connection to a new, fully migrated schema that is dropped
// when the test ends, so tests can run in parallel without seeing each
// other's rows. The returned URL connects to the same schema (for code
// that opens its own connections, such as a subprocess).
func New(t testing.TB) (*sqlx.DB, string) {
	t.Helper()
	db, schemaURL := Empty(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := migrations.Up(ctx, db.DB); err != nil {
		t.Fatalf("testdb: migrate: %v", err)
	}
	return db, schemaURL
}

// Empty returns a connection to a new, empty schema (no migrations) that is
// dropped when the test ends, and the URL that connects to it.
func Empty(t testing.TB) (*sqlx.DB, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := sqlx.ConnectContext(ctx, "postgres", URL())
	if err != nil {
		t.Fatalf("testdb: PostgreSQL is not reachable at %s (run `make test`, which starts it): %v", URL(), err)
	}
	defer admin.Close()

	schema := "test_" + randomHex(8)
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("testdb: create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := sqlx.ConnectContext(ctx, "postgres", URL())
		if err != nil {
			t.Errorf("testdb: drop schema %s: %v", schema, err)
			return
		}
		defer admin.Close()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("testdb: drop schema %s: %v", schema, err)
		}
	})

	schemaURL := withSearchPath(t, URL(), schema)
	db, err := pgdb.Open(schemaURL)
	if err == nil {
		err = db.PingContext(ctx)
	}
	if err != nil {
		t.Fatalf("testdb: connect to schema: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db, schemaURL
}

// withSearchPath adds search_path to a postgres URL (lib/pq sends unknown
// parameters to the server as run-time settings). The connection is opened
// with pgdb, as the service opens its own, so tests talk to PostgreSQL
// exactly as production does.
func withSearchPath(t testing.TB, base, schema string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("testdb: TEST_DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// RedisURL is the Redis the tests use: TEST_REDIS_URL, or database 15 of
// the local server, away from the development data in database 0.
func RedisURL() string {
	if u := os.Getenv("TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/15"
}

// Redis returns a client of the test Redis, failing the test when it does
// not answer.
func Redis(t testing.TB) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(RedisURL())
	if err != nil {
		t.Fatalf("testdb: TEST_REDIS_URL: %v", err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("testdb: Redis is not reachable at %s (run `make test`, which starts it): %v", RedisURL(), err)
	}
	return rdb
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Queue returns a name of the test's own, for an asynq queue or a Redis
// key prefix, so tests running in parallel never share tasks or counters.
func Queue(t testing.TB) string {
	return "test-" + randomHex(6)
}
