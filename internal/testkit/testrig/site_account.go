package testrig

import (
	"html"
	"maps"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"email-alert/frontend"
	"email-alert/internal/dev/devkeys"
	"email-alert/internal/dev/devoidc"
	"email-alert/internal/testkit/testdb"
)

// AccountSite is the frontend and API of a rig app configured for a
// dev-oidc provider running in the test, as `make run` wires them. Its
// Site has no Server: the frontend listens on Public.
type AccountSite struct {
	*Site
	Provider *devoidc.Provider
	Public   string // the frontend's base URL
	Issuer   string // dev-oidc's
}

func serveOn(t *testing.T, ln net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
}

// NewAccountSite is StartAccountSite with no extra settings; it marks the
// test parallel.
func NewAccountSite(t *testing.T) *AccountSite {
	t.Helper()
	t.Parallel()
	return StartAccountSite(t, nil)
}

// StartAccountSite serves dev-oidc and the frontend on real listeners, the
// app built on a fresh schema with env added to its settings.
func StartAccountSite(t *testing.T, env map[string]string) *AccountSite {
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
	a := NewAppOn(t, db, all)
	serveOn(t, feLn, a.FrontendHandler())
	jar, _ := cookiejar.New(nil)
	s := &Site{T: t, App: a, Client: &http.Client{Jar: jar}, API: &API{Router: a.APIRouter()}}
	return &AccountSite{Site: s, Provider: provider, Public: public, Issuer: issuer}
}

// Get opens path on the frontend.
func (s *AccountSite) Get(path string) Page {
	s.T.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.Public+path, nil)
	return s.Do(req)
}

// Post submits form to path on the frontend, with header on top.
func (s *AccountSite) Post(path string, form url.Values, header http.Header) Page {
	s.T.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.Public+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	return s.Do(req)
}

// HiddenField matches a hidden form field, its name and value the two
// submatches, as dev-oidc and the pages write them.
var HiddenField = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// SignIn goes through dev-oidc's form as a person would, from the sign-in
// link start, and returns the page it lands on.
func (s *AccountSite) SignIn(email string, verified bool, start string) Page {
	s.T.Helper()
	return s.Authorize(s.Get(start), email, verified)
}

// Authorize signs in as email at dev-oidc's sign-in page p, and returns the
// page it lands on.
func (s *AccountSite) Authorize(p Page, email string, verified bool) Page {
	s.T.Helper()
	if !strings.Contains(p.Body, "Development identity provider") {
		s.T.Fatalf("did not reach dev-oidc: %s (%d)", p.URL, p.Status)
	}
	form := url.Values{"email": {email}}
	for _, m := range HiddenField.FindAllStringSubmatch(p.Body, -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	if verified {
		form.Set("email_verified", "true")
	}
	req, _ := http.NewRequest(http.MethodPost, p.URL.String(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return s.Do(req)
}

// SessionCookie is the value of the session cookie in the jar, or "".
func (s *AccountSite) SessionCookie() string {
	u, _ := url.Parse(s.Public)
	for _, c := range s.Client.Jar.Cookies(u) {
		if c.Name == frontend.SessionCookie {
			return c.Value
		}
	}
	return ""
}

// EmailTo returns the kind of the newest email to address and the path
// of its first link on this site.
func (s *AccountSite) EmailTo(address string) (kind, link string) {
	s.T.Helper()
	var e struct {
		Kind string `db:"kind"`
		Body string `db:"body"`
	}
	if err := s.App.DB().Get(&e, `SELECT kind, body FROM emails WHERE address = $1 ORDER BY created_at DESC, id DESC LIMIT 1`, address); err != nil {
		return "", ""
	}
	if m := regexp.MustCompile(regexp.QuoteMeta(s.Public) + `(/\S+)`).FindStringSubmatch(e.Body); m != nil {
		link = m[1]
	}
	return e.Kind, link
}
