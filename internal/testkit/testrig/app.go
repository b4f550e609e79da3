// Package testrig builds email-alert for tests, in the test's own process,
// the way gotosocial's testrig does: an app on a fresh schema of the test
// PostgreSQL and a queue namespace of its own in the test Redis
// (NewApp), the API driven in memory with a list, a subscriber and a
// subscription already made (API), the frontend on a real listener
// driven like a browser with a cookie jar (Site), the same beside the
// dev-oidc provider for One Login journeys (AccountSite), and a headless
// Chromium over an AccountSite (Browser).
//
// Every test package may import it, including the domain packages app
// itself imports, from their external test packages (package
// frontend_test): the rig builds the whole app, so a package's tests can
// drive its pages or endpoints as the service serves them.
package testrig

import (
	"flag"
	"io"
	"log/slog"
	"maps"
	"os"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"

	"email-alert/internal/app"
	"email-alert/internal/testkit/testdb"
)

// Token is the API bearer token every rig app accepts.
const Token = "test-token-0123456789"

// SecondToken is a second API token that the apps of NewAPIApp, NewAPI and
// NewSite accept, for tests that tell API clients apart.
const SecondToken = "other-token-abcdef"

// App is the app built as Run builds it, on DB.
type App struct {
	*app.App
	// DBURL is the DATABASE_URL of the app's schema, for running commands
	// (app.Run) against it.
	DBURL string
}

// NewApp builds the app on a fresh schema, with env on top of the rig's
// settings: DATABASE_URL of the schema, the test Redis and API_TOKENS of
// Token.
func NewApp(t testing.TB, env map[string]string) *App {
	t.Helper()
	db, dbURL := testdb.New(t)
	all := map[string]string{"DATABASE_URL": dbURL}
	maps.Copy(all, env)
	a := NewAppOn(t, db, all)
	a.DBURL = dbURL
	return a
}

// NewAPIApp is NewApp accepting SecondToken as well as Token: the app of
// the API tests.
func NewAPIApp(t testing.TB) *App {
	t.Helper()
	return NewApp(t, map[string]string{"API_TOKENS": SecondToken + "," + Token})
}

// NewAppOn builds the app on db, which the test made, with env on top of
// the rig's settings (the test Redis, API_TOKENS of Token): env must name
// db's DATABASE_URL. The app has a queue namespace of its own and is
// closed when the test ends.
func NewAppOn(t testing.TB, db *sqlx.DB, env map[string]string) *App {
	t.Helper()
	all := map[string]string{"REDIS_URL": testdb.RedisURL(), "API_TOKENS": Token}
	maps.Copy(all, env)
	gin.SetMode(gin.TestMode)
	a, err := app.New(func(k string) string { return all[k] }, db, testdb.Redis(t), testdb.Queue(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return &App{App: a, DBURL: all["DATABASE_URL"]}
}

// Main runs a package's tests (call it from TestMain) with the request
// log kept out of the output unless the tests run with -v.
func Main(m *testing.M) {
	flag.Parse()
	if !testing.Verbose() {
		slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	}
	os.Exit(m.Run())
}
