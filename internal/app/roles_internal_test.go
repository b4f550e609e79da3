package app

import (
	"net/http/httptest"
	"testing"

	"email-alert/internal/config"
	"email-alert/internal/testkit/testdb"
)

// TestRolesBuildWhatTheyServe: each process builds only what it serves.
// The page templates (every page parsed and rendered once per language)
// and the assets are held by the frontend alone; the worker has no
// compressor; and the queues' pages are built at their first request, in
// the api, not at start. Memory a process holds for another role raises its
// resident size and its collector's heap goal for nothing.
func TestRolesBuildWhatTheyServe(t *testing.T) {
	t.Parallel()
	db, dbURL := testdb.New(t)
	env := map[string]string{"DATABASE_URL": dbURL, "REDIS_URL": testdb.RedisURL(), "API_TOKENS": "test-token-0123456789"}
	cfg, err := config.Parse(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		command               string
		pages, compress       bool
		frontendRouter, apiUp bool
	}{
		{command: "api", compress: true, apiUp: true},
		{command: "frontend", pages: true, compress: true, frontendRouter: true},
		{command: "worker"},
		{command: "all", pages: true, compress: true, frontendRouter: true, apiUp: true},
	} {
		t.Run(tc.command, func(t *testing.T) {
			a, err := newApp(cfg, db, testdb.Redis(t), testdb.Queue(t), rolesOf(tc.command))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(a.close)
			if got := a.pages != nil; got != tc.pages {
				t.Errorf("page templates built: %v, want %v", got, tc.pages)
			}
			if got := a.assets != nil; got != tc.pages {
				t.Errorf("assets read: %v, want %v", got, tc.pages)
			}
			if got := a.compress != nil; got != tc.compress {
				t.Errorf("compressor built: %v, want %v", got, tc.compress)
			}
			if a.queueUI.built() {
				t.Error("queue pages built at start; want them built at their first request")
			}
			if tc.frontendRouter {
				w := httptest.NewRecorder()
				frontendHandler(a).ServeHTTP(w, httptest.NewRequest("GET", "/email/manage/authenticate", nil))
				if w.Code != 200 {
					t.Errorf("frontend page: %d, want 200", w.Code)
				}
			}
			if !tc.apiUp {
				return
			}
			r := httptest.NewRequest("GET", "/admin/queues/api/queues", nil)
			r.Header.Set("Authorization", "Bearer test-token-0123456789")
			w := httptest.NewRecorder()
			apiHandler(a).ServeHTTP(w, r)
			if w.Code != 200 {
				t.Errorf("queues' API: %d %s, want 200", w.Code, w.Body)
			}
			if !a.queueUI.built() {
				t.Error("queue pages not built by a request")
			}
		})
	}
}
