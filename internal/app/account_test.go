package app

import (
	"context"
	"html"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"email-alert/frontend"
	"email-alert/internal/config"
	"email-alert/internal/devkeys"
	"email-alert/internal/devoidc"
	"email-alert/internal/testdb"
)

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

func newAccountSite(t *testing.T) *accountSite {
	t.Helper()
	t.Parallel()
	return startAccountSite(t, nil)
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

func TestOneLoginJourney(t *testing.T) {
	s := newAccountSite(t)
	s.api.mustDo(t, "POST", "/subscriber-lists", `{"title":"Tax news"}`, nil)
	s.api.mustDo(t, "POST", "/subscriptions", `{"address":"ann@example.com","subscriber_list_id":1,"frequency":"weekly","skip_confirmation_email":true}`, nil)

	p := s.signIn("Ann@Example.com", true, "/email/manage/authenticate/account?redirect_path=/email/manage")
	if p.status != 200 || p.url.Path != "/email/manage" {
		t.Fatalf("after sign-in: %s (%d)\n%s", p.url, p.status, p.body)
	}
	mustContain(t, p, "Subscriptions for ann@example.com", "Tax news", "Sign out", "GOV.UK One Login")
	if v := strings.Join(p.header.Values("Vary"), ", "); !strings.Contains(v, "GOVUK-Account-Session") {
		t.Errorf("Vary %q, want GOVUK-Account-Session", v)
	}
	sub := devoidc.Sub("ann@example.com")
	var linked int
	if err := s.a.db.Get(&linked, `SELECT count(*) FROM subscribers WHERE govuk_account_id = $1 AND address = 'ann@example.com'`, sub); err != nil || linked != 1 {
		t.Fatalf("ann is not linked to %s (%v)", sub, err)
	}
	if kind, _ := s.lastEmail("ann@example.com"); kind != "account_linked" {
		t.Errorf("last email %q, want account_linked", kind)
	}

	// The session token is the API's govuk_account_session, and the
	// GOVUK-Account-Session header works as the cookie does.
	token := s.sessionCookie()
	body := `{"govuk_account_session":"` + token + `$$flash"}`
	for _, path := range []string{"/subscribers/govuk-account", "/subscribers/govuk-account/link"} {
		w := s.api.do("POST", path, body, nil)
		if w.Code != 200 || !strings.Contains(w.Body.String(), `"govuk_account_id":"`+sub+`"`) {
			t.Errorf("%s: %d %s", path, w.Code, w.Body)
		}
	}
	if w := s.api.do("GET", "/subscribers/govuk-account/"+url.PathEscape(sub), "", nil); w.Code != 200 {
		t.Errorf("GET by account: %d", w.Code)
	}
	bare := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodGet, s.public+"/email/manage", nil)
	req.Header.Set("GOVUK-Account-Session", token+"$$flash1,flash2")
	resp, err := bare.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/email/manage with the GOVUK-Account-Session header: %d, want 200", resp.StatusCode)
	}

	// A magic link is refused now: the page sends the One Login email.
	if p := s.post("/email/manage/authenticate", url.Values{"address": {"ann@example.com"}}, nil); p.status != 200 {
		t.Errorf("magic-link request: %d %s", p.status, p.url)
	}
	if kind, _ := s.lastEmail("ann@example.com"); kind != "use_one_login" {
		t.Errorf("magic-link request after linking: %q, want use_one_login", kind)
	}

	// Sign out: our session ends, then dev-oidc's, then /signed-out.
	p = s.get("/sign-out")
	if p.url.Path != "/signed-out" {
		t.Errorf("sign-out ended at %s, want /signed-out", p.url)
	}
	mustContain(t, p, "You have signed out")
	if w := s.api.do("POST", "/subscribers/govuk-account", body, nil); w.Code != 401 {
		t.Errorf("API with a signed-out session: %d, want 401", w.Code)
	}
	if p := s.get("/email/manage"); p.url.Path != "/email/manage/authenticate" {
		t.Errorf("/email/manage after sign-out: %s", p.url)
	}
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

func TestBackchannelLogout(t *testing.T) {
	s := newAccountSite(t)
	if p := s.signIn("bob@example.com", true, "/email/manage/authenticate/account"); p.url.Path != "/email/manage" {
		t.Fatalf("sign-in ended at %s", p.url)
	}
	token, err := s.provider.LogoutToken(devoidc.Sub("bob@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	post := func(logoutToken string) int {
		resp, err := http.PostForm(s.public+"/sign-in/backchannel-logout", url.Values{"logout_token": {logoutToken}})
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(token); code != 200 {
		t.Fatalf("back-channel logout: %d, want 200", code)
	}
	p := s.get("/email/manage")
	if p.url.Path != "/email/manage/authenticate" {
		t.Errorf("/email/manage after back-channel logout: %s, want the sign-in page", p.url)
	}
	// The cookie of the ended session shows no "Sign out", and is cleared.
	if strings.Contains(p.body, `href="/sign-out"`) {
		t.Errorf("the sign-in page after back-channel logout still shows Sign out")
	}
	if c := s.sessionCookie(); c != "" {
		t.Errorf("the ended session's cookie is still set: %q", c)
	}
	if code := post(token); code != 400 {
		t.Errorf("replayed logout token: %d, want 400", code)
	}
	if code := post("not-a-token"); code != 400 {
		t.Errorf("garbage logout token: %d, want 400", code)
	}
}

func TestOneLoginUnverifiedEmail(t *testing.T) {
	s := newAccountSite(t)
	p := s.signIn("carol@example.com", false, "/email/manage/authenticate/account")
	if p.status != 403 {
		t.Errorf("/email/manage for an unverified account: %d, want 403", p.status)
	}
	mustContain(t, p, "confirm your email address")
	var n int
	if err := s.a.db.Get(&n, `SELECT count(*) FROM subscribers`); err != nil || n != 0 {
		t.Errorf("%d subscribers created for an unverified account, want 0", n)
	}
	w := s.api.do("POST", "/subscribers/govuk-account", `{"govuk_account_session":"`+s.sessionCookie()+`"}`, nil)
	if w.Code != 403 {
		t.Errorf("API for an unverified account: %d, want 403", w.Code)
	}
}

func TestSignInCallbackProblems(t *testing.T) {
	s := newAccountSite(t)
	for _, path := range []string{
		"/sign-in/callback?code=x&state=forged-state-forged-state-forged-state-abc",
		"/sign-in/callback?error=access_denied&state=x",
		"/sign-in/callback",
	} {
		p := s.get(path)
		if p.status != 400 {
			t.Errorf("%s: %d, want 400", path, p.status)
		}
		mustContain(t, p, "There is a problem signing you in")
	}
	// A callback from another browser: the state is real, the cookie is not.
	start := s.get("/email/manage/authenticate/account")
	form := url.Values{"email": {"dan@example.com"}, "email_verified": {"true"}}
	for _, m := range hiddenField.FindAllStringSubmatch(start.body, -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	other := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := other.PostForm(start.url.String(), form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	callback := resp.Header.Get("Location")
	resp, err = other.Get(callback)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("callback from another browser: %d, want 400", resp.StatusCode)
	}
	for _, c := range resp.Cookies() {
		if c.Name == frontend.SessionCookie && c.Value != "" {
			t.Errorf("callback from another browser set a session")
		}
	}
	// Open redirects: a redirect_path off this site lands on /email/manage.
	for _, bad := range []string{"//evil.example", "https://evil.example", "/\\evil.example"} {
		p := s.signIn("erin@example.com", true, "/email/manage/authenticate/account?redirect_path="+url.QueryEscape(bad))
		if p.url.Host != strings.TrimPrefix(s.public, "http://") || p.url.Path != "/email/manage" {
			t.Errorf("redirect_path %q landed on %s", bad, p.url)
		}
	}
}

func TestLinkedAccountSubscribesAtOnce(t *testing.T) {
	s := newAccountSite(t)
	s.api.mustDo(t, "POST", "/subscriber-lists", `{"title":"Tax news","slug":"tax"}`, nil)
	if p := s.signIn("fay@example.com", true, "/email/manage/authenticate/account"); p.url.Path != "/email/manage" {
		t.Fatalf("sign-in ended at %s", p.url)
	}
	p := s.post("/email/subscriptions/new", url.Values{"topic_id": {"tax"}, "frequency": {"weekly"}}, nil)
	mustContain(t, p, "You’ve subscribed to Tax news", "Subscriptions for fay@example.com", "once a week")
	if kind, _ := s.lastEmail("fay@example.com"); kind != "subscribed" {
		t.Errorf("last email %q, want subscribed", kind)
	}
	p = s.post("/email/subscriptions/new", url.Values{"topic_id": {"tax"}, "frequency": {"weekly"}}, nil)
	mustContain(t, p, "You’re already subscribed to Tax news")
	if p := s.get("/email/manage/address"); p.status != 404 {
		t.Errorf("address page for an account session: %d, want 404", p.status)
	}
}

// TestDeletedAccountCannotSignInOrKeepSessions: after the account service
// deletes an account, its open session stops working and signing in with
// it again is refused (the tombstone).
func TestDeletedAccountCannotSignInOrKeepSessions(t *testing.T) {
	s := newAccountSite(t)
	if p := s.signIn("gil@example.com", true, "/email/manage/authenticate/account"); p.url.Path != "/email/manage" {
		t.Fatalf("sign-in ended at %s", p.url)
	}
	sub := devoidc.Sub("gil@example.com")
	// The deletion, through the real intake and processor; the session is
	// re-created afterwards as if it had been opened in between, so only
	// the tombstone can refuse it.
	if w := s.api.do("DELETE", "/api/oidc-users/"+url.PathEscape(sub), "", http.Header{"Authorization": {"Bearer " + config.DevAccountEventsToken}}); w.Code != 204 {
		t.Fatalf("DELETE /api/oidc-users: %d %s", w.Code, w.Body)
	}
	var id string
	if err := s.a.db.Get(&id, `SELECT id FROM account_events WHERE sub = $1`, sub); err != nil {
		t.Fatal(err)
	}
	if err := s.a.processor.Process(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	token := "tombstoned-session-token-000000000000000000"[:43]
	if _, err := s.a.db.Exec(`INSERT INTO sessions (token_hash, method, govuk_account_id, email, email_verified, expires_at)
		VALUES (sha256(convert_to($1, 'UTF8')), 'account', $2, 'gil@example.com', true, now() + interval '1 hour')`, token, sub); err != nil {
		t.Fatal(err)
	}
	bare := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodGet, s.public+"/email/manage", nil)
	req.Header.Set("GOVUK-Account-Session", token)
	resp, err := bare.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/email/manage/authenticate" {
		t.Errorf("a session of a deleted account: %d to %q, want a redirect to sign in", resp.StatusCode, resp.Header.Get("Location"))
	}
	p := s.signIn("gil@example.com", true, "/email/manage/authenticate/account")
	if p.status != 400 || !strings.Contains(p.body, "There is a problem signing you in") {
		t.Errorf("signing in with a deleted account: %d at %s, want the problem page", p.status, p.url)
	}
}
