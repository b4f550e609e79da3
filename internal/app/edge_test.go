package app_test

import (
	"email-alert/internal/app"
	"email-alert/internal/testkit/testrig"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/gin-gonic/gin"

	"email-alert/internal/testkit/testdb"
)

// TestEveryGETRouteAnswersHEAD walks the routers' own route tables, so a
// GET route added later is covered too: HEAD answers as GET does, with
// no body, on the API, the pages and a lone worker's metrics listener.
func TestEveryGETRouteAnswersHEAD(t *testing.T) {
	t.Parallel()
	a := testrig.NewAPIApp(t)
	f := testrig.NewAPIOn(t, a.APIRouter())
	for _, surface := range []struct {
		name    string
		routes  gin.RoutesInfo
		handler http.Handler
	}{
		{"api", a.APIRouter().Routes(), a.APIHandler()},
		{"frontend", a.FrontendRouter().Routes(), a.FrontendHandler()},
		{"metrics", a.MetricsRouter().Routes(), a.MetricsHandler()},
	} {
		gets := 0
		for _, route := range surface.routes {
			if route.Method != http.MethodGet {
				continue
			}
			gets++
			path := f.Expand(fillRoute(route.Path, "", ""))
			answer := func(method string) *httptest.ResponseRecorder {
				req := httptest.NewRequest(method, path, nil)
				req.Header.Set("Authorization", "Bearer "+testrig.Token)
				w := httptest.NewRecorder()
				surface.handler.ServeHTTP(w, req)
				return w
			}
			get, head := answer(http.MethodGet), answer(http.MethodHead)
			if head.Code == http.StatusMethodNotAllowed || head.Code != get.Code {
				t.Errorf("%s: HEAD %s: %d, want %d as GET", surface.name, route.Path, head.Code, get.Code)
			}
			if head.Body.Len() != 0 {
				t.Errorf("%s: HEAD %s has a body of %d bytes", surface.name, route.Path, head.Body.Len())
			}
			if ct := get.Header().Get("Content-Type"); head.Header().Get("Content-Type") != ct {
				t.Errorf("%s: HEAD %s: Content-Type %q, want %q as GET", surface.name, route.Path, head.Header().Get("Content-Type"), ct)
			}
		}
		if gets == 0 {
			t.Errorf("%s: no GET routes found", surface.name)
		}
	}
}

// closedPort is a local address on which nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestOperationsWithRedisDown: the queue UI's API answers 503 in JSON,
// not a 500 with the dial error, and /metrics answers what it has, saying
// that the queues could not be read.
func TestOperationsWithRedisDown(t *testing.T) {
	t.Parallel()
	db, dbURL := testdb.New(t)
	env := map[string]string{"DATABASE_URL": dbURL, "API_TOKENS": testrig.Token, "REDIS_URL": "redis://" + closedPort(t) + "/0"}
	// The client Run makes for a redis:// URL: context deadlines on.
	opt, err := redis.ParseURL(env["REDIS_URL"])
	if err != nil {
		t.Fatal(err)
	}
	opt.ContextTimeoutEnabled = true
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	gin.SetMode(gin.TestMode)
	a, err := app.New(func(k string) string { return env[k] }, db, rdb, testdb.Queue(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	f := &testrig.API{Router: a.APIRouter()}

	w := f.Do("GET", "/admin/queues/api/queues", "", nil)
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" ||
		!strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
		t.Errorf("queue UI with Redis down: %d %s (Retry-After %q) %s, want a JSON 503 with Retry-After",
			w.Code, w.Header().Get("Content-Type"), w.Header().Get("Retry-After"), w.Body)
	}
	if strings.Contains(w.Body.String(), "dial") || strings.Contains(w.Body.String(), "connection refused") {
		t.Errorf("queue UI with Redis down shows the dial error: %s", w.Body)
	}

	w = f.Do("GET", "/metrics", "", nil)
	if w.Code != http.StatusOK {
		t.Fatalf("/metrics with Redis down: %d, want 200 with what can be read", w.Code)
	}
	for _, want := range []string{"email_alert_queue_redis_up 0", "email_alert_emails_total"} {
		if !strings.Contains(w.Body.String(), want) {
			t.Errorf("/metrics with Redis down lacks %q", want)
		}
	}
	if strings.Contains(w.Body.String(), "email_alert_queue_tasks{") {
		t.Errorf("/metrics with Redis down reports queue sizes it could not read")
	}
}

// TestCrossSitePostGetsTheErrorPage: a refused cross-site form post gets
// the GOV.UK error page, not Go's plain-text 403, and is counted.
func TestCrossSitePostGetsTheErrorPage(t *testing.T) {
	s := testrig.NewSite(t)
	for i, h := range []http.Header{
		{"Origin": {"https://evil.example"}},
		{"Sec-Fetch-Site": {"cross-site"}},
	} {
		p := s.Post("/email/manage/authenticate", url.Values{"address": {"ann@example.com"}}, h)
		if p.Status != http.StatusForbidden || !strings.HasPrefix(p.Header.Get("Content-Type"), "text/html") {
			t.Errorf("cross-site POST with %v: %d %s, want a 403 page", h, p.Status, p.Header.Get("Content-Type"))
		}
		testrig.MustContain(t, p, `class="govuk-header"`, "There is a problem with your request")
		if p.Header.Get("X-Request-Id") == "" || p.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("cross-site POST: no request id or security headers: %v", p.Header)
		}
		w := s.API.Do("GET", "/metrics", "", nil)
		if want := fmt.Sprintf("email_alert_cross_origin_refused_total %d", i+1); !strings.Contains(w.Body.String(), want) {
			t.Errorf("after %d refused posts /metrics lacks %q", i+1, want)
		}
	}
	if n := s.EmailCount(); n != 0 {
		t.Errorf("%d emails written for refused posts", n)
	}
}

// TestPerClientRateLimitBehindTrustedProxy: behind the CDN, clients that
// share one peer are limited each by the address the CDN gives; a peer
// that is not a trusted proxy is limited by its own address, whatever its
// header says. The 429 page names the limit that was reached.
func TestPerClientRateLimitBehindTrustedProxy(t *testing.T) {
	t.Parallel()
	db, dbURL := testdb.New(t)
	a := testrig.NewAppOn(t, db, map[string]string{
		"DATABASE_URL": dbURL, "TRUSTED_PROXIES": "10.0.0.0/8",
		"RATE_LIMIT_PER_CLIENT": "2/minute", "RATE_LIMIT_PER_ADDRESS": "100/minute",
	})
	h := a.FrontendHandler()
	n := 0
	signIn := func(peer, clientIP string) *httptest.ResponseRecorder {
		n++
		form := url.Values{"address": {fmt.Sprintf("person%d@example.com", n)}}
		req := httptest.NewRequest(http.MethodPost, "/email/manage/authenticate", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.RemoteAddr = peer + ":40000"
		if clientIP != "" {
			req.Header.Set("True-Client-IP", clientIP)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	const cdn = "10.1.2.3"
	steps := []struct {
		name           string
		peer, clientIP string
		want           int
	}{
		{"first client behind the CDN", cdn, "203.0.113.1", 200},
		{"first client again", cdn, "203.0.113.1", 200},
		{"first client over its limit", cdn, "203.0.113.1", 429},
		{"second client behind the same CDN node", cdn, "203.0.113.2", 200},
		{"a header that is no address counts as the CDN node", cdn, "not-an-ip", 200},
		{"untrusted peer claiming the first client's address", "192.0.2.9", "203.0.113.1", 200},
		{"untrusted peer again, claiming another", "192.0.2.9", "203.0.113.77", 200},
		{"untrusted peer over its own limit whatever it claims", "192.0.2.9", "203.0.113.78", 429},
	}
	for _, step := range steps {
		w := signIn(step.peer, step.clientIP)
		if w.Code != step.want {
			t.Errorf("%s: %d, want %d", step.name, w.Code, step.want)
			continue
		}
		if w.Code == 429 {
			body := w.Body.String()
			if !strings.Contains(body, "too many requests from your device or network") || strings.Contains(body, "protect your email address") {
				t.Errorf("%s: the 429 page does not name the per-client limit:\n%s", step.name, body)
			}
		}
	}
}
