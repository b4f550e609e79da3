package linking_test

import (
	"context"
	"email-alert/internal/config"
	"email-alert/internal/testkit/testrig"
	"html"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"email-alert/frontend"
	"email-alert/internal/dev/devoidc"
)

func TestOneLoginJourney(t *testing.T) {
	s := testrig.NewAccountSite(t)
	s.API.MustDo(t, "POST", "/subscriber-lists", `{"title":"Tax news"}`, nil)
	s.API.MustDo(t, "POST", "/subscriptions", `{"address":"ann@example.com","subscriber_list_id":1,"frequency":"weekly","skip_confirmation_email":true}`, nil)

	p := s.SignIn("Ann@Example.com", true, "/email/manage/authenticate/account?redirect_path=/email/manage")
	if p.Status != 200 || p.URL.Path != "/email/manage" {
		t.Fatalf("after sign-in: %s (%d)\n%s", p.URL, p.Status, p.Body)
	}
	testrig.MustContain(t, p, "Subscriptions for ann@example.com", "Tax news", "Sign out", "GOV.UK One Login")
	if v := strings.Join(p.Header.Values("Vary"), ", "); !strings.Contains(v, "GOVUK-Account-Session") {
		t.Errorf("Vary %q, want GOVUK-Account-Session", v)
	}
	sub := devoidc.Sub("ann@example.com")
	var linked int
	if err := s.App.DB().Get(&linked, `SELECT count(*) FROM subscribers WHERE govuk_account_id = $1 AND address = 'ann@example.com'`, sub); err != nil || linked != 1 {
		t.Fatalf("ann is not linked to %s (%v)", sub, err)
	}
	if kind, _ := s.LastEmail("ann@example.com"); kind != "account_linked" {
		t.Errorf("last email %q, want account_linked", kind)
	}

	// The session token is the API's govuk_account_session, and the
	// GOVUK-Account-Session header works as the cookie does.
	token := s.SessionCookie()
	body := `{"govuk_account_session":"` + token + `$$flash"}`
	for _, path := range []string{"/subscribers/govuk-account", "/subscribers/govuk-account/link"} {
		w := s.API.Do("POST", path, body, nil)
		if w.Code != 200 || !strings.Contains(w.Body.String(), `"govuk_account_id":"`+sub+`"`) {
			t.Errorf("%s: %d %s", path, w.Code, w.Body)
		}
	}
	if w := s.API.Do("GET", "/subscribers/govuk-account/"+url.PathEscape(sub), "", nil); w.Code != 200 {
		t.Errorf("GET by account: %d", w.Code)
	}
	bare := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodGet, s.Public+"/email/manage", nil)
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
	if p := s.Post("/email/manage/authenticate", url.Values{"address": {"ann@example.com"}}, nil); p.Status != 200 {
		t.Errorf("magic-link request: %d %s", p.Status, p.URL)
	}
	if kind, _ := s.LastEmail("ann@example.com"); kind != "use_one_login" {
		t.Errorf("magic-link request after linking: %q, want use_one_login", kind)
	}

	// Sign out: our session ends, then dev-oidc's, then /signed-out.
	p = s.Get("/sign-out")
	if p.URL.Path != "/signed-out" {
		t.Errorf("sign-out ended at %s, want /signed-out", p.URL)
	}
	testrig.MustContain(t, p, "You have signed out")
	if w := s.API.Do("POST", "/subscribers/govuk-account", body, nil); w.Code != 401 {
		t.Errorf("API with a signed-out session: %d, want 401", w.Code)
	}
	if p := s.Get("/email/manage"); p.URL.Path != "/email/manage/authenticate" {
		t.Errorf("/email/manage after sign-out: %s", p.URL)
	}
}

func TestBackchannelLogout(t *testing.T) {
	s := testrig.NewAccountSite(t)
	if p := s.SignIn("bob@example.com", true, "/email/manage/authenticate/account"); p.URL.Path != "/email/manage" {
		t.Fatalf("sign-in ended at %s", p.URL)
	}
	token, err := s.Provider.LogoutToken(devoidc.Sub("bob@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	post := func(logoutToken string) int {
		resp, err := http.PostForm(s.Public+"/sign-in/backchannel-logout", url.Values{"logout_token": {logoutToken}})
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
	p := s.Get("/email/manage")
	if p.URL.Path != "/email/manage/authenticate" {
		t.Errorf("/email/manage after back-channel logout: %s, want the sign-in page", p.URL)
	}
	// The cookie of the ended session shows no "Sign out", and is cleared.
	if strings.Contains(p.Body, `href="/sign-out"`) {
		t.Errorf("the sign-in page after back-channel logout still shows Sign out")
	}
	if c := s.SessionCookie(); c != "" {
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
	s := testrig.NewAccountSite(t)
	p := s.SignIn("carol@example.com", false, "/email/manage/authenticate/account")
	if p.Status != 403 {
		t.Errorf("/email/manage for an unverified account: %d, want 403", p.Status)
	}
	testrig.MustContain(t, p, "confirm your email address")
	var n int
	if err := s.App.DB().Get(&n, `SELECT count(*) FROM subscribers`); err != nil || n != 0 {
		t.Errorf("%d subscribers created for an unverified account, want 0", n)
	}
	w := s.API.Do("POST", "/subscribers/govuk-account", `{"govuk_account_session":"`+s.SessionCookie()+`"}`, nil)
	if w.Code != 403 {
		t.Errorf("API for an unverified account: %d, want 403", w.Code)
	}
}

func TestSignInCallbackProblems(t *testing.T) {
	s := testrig.NewAccountSite(t)
	for _, path := range []string{
		"/sign-in/callback?code=x&state=forged-state-forged-state-forged-state-abc",
		"/sign-in/callback?error=access_denied&state=x",
		"/sign-in/callback",
	} {
		p := s.Get(path)
		if p.Status != 400 {
			t.Errorf("%s: %d, want 400", path, p.Status)
		}
		testrig.MustContain(t, p, "There is a problem signing you in")
	}
	// A callback from another browser: the state is real, the cookie is not.
	start := s.Get("/email/manage/authenticate/account")
	form := url.Values{"email": {"dan@example.com"}, "email_verified": {"true"}}
	for _, m := range testrig.HiddenField.FindAllStringSubmatch(start.Body, -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	other := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := other.PostForm(start.URL.String(), form)
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
		p := s.SignIn("erin@example.com", true, "/email/manage/authenticate/account?redirect_path="+url.QueryEscape(bad))
		if p.URL.Host != strings.TrimPrefix(s.Public, "http://") || p.URL.Path != "/email/manage" {
			t.Errorf("redirect_path %q landed on %s", bad, p.URL)
		}
	}
}

func TestLinkedAccountSubscribesAtOnce(t *testing.T) {
	s := testrig.NewAccountSite(t)
	s.API.MustDo(t, "POST", "/subscriber-lists", `{"title":"Tax news","slug":"tax"}`, nil)
	if p := s.SignIn("fay@example.com", true, "/email/manage/authenticate/account"); p.URL.Path != "/email/manage" {
		t.Fatalf("sign-in ended at %s", p.URL)
	}
	p := s.Post("/email/subscriptions/new", url.Values{"topic_id": {"tax"}, "frequency": {"weekly"}}, nil)
	testrig.MustContain(t, p, "You’ve subscribed to Tax news", "Subscriptions for fay@example.com", "once a week")
	if kind, _ := s.LastEmail("fay@example.com"); kind != "subscribed" {
		t.Errorf("last email %q, want subscribed", kind)
	}
	p = s.Post("/email/subscriptions/new", url.Values{"topic_id": {"tax"}, "frequency": {"weekly"}}, nil)
	testrig.MustContain(t, p, "You’re already subscribed to Tax news")
	if p := s.Get("/email/manage/address"); p.Status != 404 {
		t.Errorf("address page for an account session: %d, want 404", p.Status)
	}
}

// TestDeletedAccountCannotSignInOrKeepSessions: after the account service
// deletes an account, its open session stops working and signing in with
// it again is refused (the tombstone).
func TestDeletedAccountCannotSignInOrKeepSessions(t *testing.T) {
	s := testrig.NewAccountSite(t)
	if p := s.SignIn("gil@example.com", true, "/email/manage/authenticate/account"); p.URL.Path != "/email/manage" {
		t.Fatalf("sign-in ended at %s", p.URL)
	}
	sub := devoidc.Sub("gil@example.com")
	// The deletion, through the real intake and processor; the session is
	// re-created afterwards as if it had been opened in between, so only
	// the tombstone can refuse it.
	if w := s.API.Do("DELETE", "/api/oidc-users/"+url.PathEscape(sub), "", http.Header{"Authorization": {"Bearer " + config.DevAccountEventsToken}}); w.Code != 204 {
		t.Fatalf("DELETE /api/oidc-users: %d %s", w.Code, w.Body)
	}
	var id string
	if err := s.App.DB().Get(&id, `SELECT id FROM account_events WHERE sub = $1`, sub); err != nil {
		t.Fatal(err)
	}
	if err := s.App.Processor().Process(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	token := "tombstoned-session-token-000000000000000000"[:43]
	if _, err := s.App.DB().Exec(`INSERT INTO sessions (token_hash, method, govuk_account_id, email, email_verified, expires_at)
		VALUES (sha256(convert_to($1, 'UTF8')), 'account', $2, 'gil@example.com', true, now() + interval '1 hour')`, token, sub); err != nil {
		t.Fatal(err)
	}
	bare := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodGet, s.Public+"/email/manage", nil)
	req.Header.Set("GOVUK-Account-Session", token)
	resp, err := bare.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/email/manage/authenticate" {
		t.Errorf("a session of a deleted account: %d to %q, want a redirect to sign in", resp.StatusCode, resp.Header.Get("Location"))
	}
	p := s.SignIn("gil@example.com", true, "/email/manage/authenticate/account")
	if p.Status != 400 || !strings.Contains(p.Body, "There is a problem signing you in") {
		t.Errorf("signing in with a deleted account: %d at %s, want the problem page", p.Status, p.URL)
	}
}

func TestMain(m *testing.M) { testrig.Main(m) }
