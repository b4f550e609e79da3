package app

// The fixtures below are internal/testkit/testrig's, for the tests of package app
// itself (security_test.go, alerts_crash_test.go), which cannot import
// internal/testkit/testrig: it imports this package. They go once those tests
// move to package app_test.

import (
	"email-alert/frontend"
	"email-alert/internal/config"
	"email-alert/internal/dev/devkeys"
	"email-alert/internal/dev/devoidc"
	"email-alert/internal/testkit/testdb"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"
)

// site is the frontend of a test app, driven like a browser with a cookie
// jar, plus the app's database for reading the emails it writes.
type site struct {
	t      *testing.T
	a      *app
	client *http.Client
	api    *apiFixture
}

type page struct {
	status int
	url    *url.URL
	header http.Header
	body   string
}

func (s *site) do(req *http.Request) page {
	s.t.Helper()
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, url: resp.Request.URL, header: resp.Header, body: string(body)}
}

// accountSite is the frontend and API of a test app configured for a
// dev-oidc provider running in the test, as `make run` wires them.
type accountSite struct {
	*site
	provider *devoidc.Provider
	public   string // the frontend's base URL
	issuer   string // dev-oidc's
}

func serveOn(t *testing.T, ln net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
}

// startAccountSite serves dev-oidc and the frontend on real listeners, the
// app built with env added to its settings.
func startAccountSite(t *testing.T, env map[string]string) *accountSite {
	t.Helper()
	idpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	feLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + idpLn.Addr().String() + "/"
	public := "http://" + feLn.Addr().String()
	key, err := devkeys.ClientKey()
	if err != nil {
		t.Fatal(err)
	}
	provider, err := devoidc.New(devoidc.Config{
		Issuer: issuer, ClientID: "email-alert-dev", ClientKey: &key.PublicKey,
		RedirectURIs:           []string{public + "/sign-in/callback"},
		PostLogoutRedirectURIs: []string{public + "/signed-out"},
		BackchannelLogoutURI:   public + "/sign-in/backchannel-logout",
		EventsAudience:         public,
	})
	if err != nil {
		t.Fatal(err)
	}
	serveOn(t, idpLn, provider)

	db, dbURL := testdb.New(t)
	all := map[string]string{
		"DATABASE_URL": dbURL, "PUBLIC_URL": public, "OIDC_ISSUER_URL": issuer,
		"ACCOUNT_EVENTS_ISSUER": issuer, "ACCOUNT_EVENTS_JWKS_URL": issuer + ".well-known/jwks.json",
	}
	maps.Copy(all, env)
	a := buildApp(t, db, all)
	serveOn(t, feLn, frontendHandler(a))
	jar, _ := cookiejar.New(nil)
	s := &site{t: t, a: a, client: &http.Client{Jar: jar}, api: &apiFixture{router: apiRouter(a)}}
	return &accountSite{site: s, provider: provider, public: public, issuer: issuer}
}

func (s *accountSite) get(path string) page {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.public+path, nil)
	return s.do(req)
}

var hiddenField = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// signIn goes through dev-oidc's form as a person would, from the sign-in
// link, and returns the page it lands on.
func (s *accountSite) signIn(email string, verified bool, start string) page {
	s.t.Helper()
	return s.authorize(s.get(start), email, verified)
}

// authorize signs in as email at dev-oidc's sign-in page p, and returns the
// page it lands on.
func (s *accountSite) authorize(p page, email string, verified bool) page {
	s.t.Helper()
	if !strings.Contains(p.body, "Development identity provider") {
		s.t.Fatalf("did not reach dev-oidc: %s (%d)", p.url, p.status)
	}
	form := url.Values{"email": {email}}
	for _, m := range hiddenField.FindAllStringSubmatch(p.body, -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	if verified {
		form.Set("email_verified", "true")
	}
	req, _ := http.NewRequest(http.MethodPost, p.url.String(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return s.do(req)
}

func (s *accountSite) sessionCookie() string {
	u, _ := url.Parse(s.public)
	for _, c := range s.client.Jar.Cookies(u) {
		if c.Name == frontend.SessionCookie {
			return c.Value
		}
	}
	return ""
}
func (s *accountSite) post(path string, form url.Values, header http.Header) page {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.public+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	return s.do(req)
}

const testToken = "test-token-0123456789"

// buildApp builds the application as main does, on db, with the test Redis,
// a queue of the test's own, and env on top of the test defaults.
func buildApp(t *testing.T, db *sqlx.DB, env map[string]string) *app {
	t.Helper()
	all := map[string]string{"REDIS_URL": testdb.RedisURL(), "API_TOKENS": testToken}
	for k, v := range env {
		all[k] = v
	}
	cfg, err := config.Parse(func(k string) string { return all[k] })
	if err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.TestMode)
	a, err := newApp(cfg, db, testdb.Redis(t), testdb.Queue(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	return a
}

// apiFixture is a list, a subscriber and their subscription, made through
// the API, whose ids the test cases refer to as {list}, {slug},
// {subscriber} and {subscription}.
type apiFixture struct {
	router       *gin.Engine
	listID       int64
	slug         string
	subscriberID int64
	subscription string
}

func (f *apiFixture) expand(s string) string {
	return strings.NewReplacer(
		"{list}", fmt.Sprint(f.listID),
		"{slug}", f.slug,
		"{subscriber}", fmt.Sprint(f.subscriberID),
		"{subscription}", f.subscription,
		"{subscription-hex}", strings.ReplaceAll(f.subscription, "-", ""),
	).Replace(s)
}

func (f *apiFixture) do(method, path, body string, header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, f.expand(path), strings.NewReader(f.expand(body)))
	req.Header.Set("Authorization", "Bearer "+testToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	w := httptest.NewRecorder()
	f.router.ServeHTTP(w, req)
	return w
}

func (f *apiFixture) mustDo(t *testing.T, method, path, body string, out any) {
	t.Helper()
	w := f.do(method, path, body, nil)
	if w.Code != http.StatusOK {
		t.Fatalf("%s %s: %d %s", method, path, w.Code, w.Body)
	}
	if out != nil {
		if err := json.Unmarshal(w.Body.Bytes(), out); err != nil {
			t.Fatal(err)
		}
	}
}

// get reads a dotted path ("subscription.subscriber_list.slug") from a
// decoded JSON body.
func get(body any, path string) any {
	for _, key := range strings.Split(path, ".") {
		switch v := body.(type) {
		case map[string]any:
			body = v[key]
		case []any:
			var i int
			fmt.Sscan(key, &i)
			if i >= len(v) {
				return nil
			}
			body = v[i]
		default:
			return nil
		}
	}
	return body
}

const contentChangeBody = `{"content_id":"5f9c6c15-7631-11e4-a3cb-005056011aef","title":"Tax rules",
	"base_path":"/government/news/tax-rules","change_note":"First published.","public_updated_at":"2026-12-01T10:05:00Z",
	"document_type":"news_story","email_document_supertype":"announcements","government_document_supertype":"news",
	"publishing_app":"whitehall","tags":{"topics":["vat","income-tax"]},"links":{"organisations":["hmrc"]}}`
