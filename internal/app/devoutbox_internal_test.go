package app

import (
	"net/http/httptest"
	"testing"

	"email-alert/internal/config"
	"email-alert/internal/testkit/testdb"
)

// TestDevOutboxOnlyOnALocalSetup: an app that is not on a local setup has
// no /dev/outbox, even where it only logs emails (frontend's TestDevOutbox
// shows the outbox of a local one). It changes the parsed settings, so it
// builds the app here rather than through internal/testkit/testrig.
func TestDevOutboxOnlyOnALocalSetup(t *testing.T) {
	t.Parallel()
	db, dbURL := testdb.New(t)
	env := map[string]string{"DATABASE_URL": dbURL, "REDIS_URL": testdb.RedisURL(), "API_TOKENS": "test-token-0123456789"}
	cfg, err := config.Parse(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Local || cfg.EmailDelivery != "log" {
		t.Fatalf("test settings: local %v, delivery %q; want a local setup that logs emails", cfg.Local, cfg.EmailDelivery)
	}
	cfg.Local = false
	a, err := newApp(cfg, db, testdb.Redis(t), testdb.Queue(t), allRoles)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	w := httptest.NewRecorder()
	frontendRouter(a).ServeHTTP(w, httptest.NewRequest("GET", "/dev/outbox", nil))
	if w.Code != 404 {
		t.Errorf("/dev/outbox outside a local setup: %d, want 404", w.Code)
	}
}
