package devoidc_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"golang.org/x/oauth2"

	"email-alert/internal/dev/devoidc"
)

const (
	eventsToken    = "test-account-events-token"
	eventsAudience = "http://localhost:3000"
	failureText    = "Failure: the service did not accept the event"
)

// pushed is one request the events receiver got.
type pushed struct {
	method, path, contentType, accept, authorization, userAgent string
	body                                                        string
}

// eventsReceiver is an httptest stand-in for the service's
// /account-events: it records every request and answers status.
type eventsReceiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []pushed
	status int
	body   string
}

func newEventsReceiver(t *testing.T, status int, body string) *eventsReceiver {
	t.Helper()
	rcv := &eventsReceiver{status: status, body: body}
	rcv.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rcv.mu.Lock()
		rcv.got = append(rcv.got, pushed{
			method: r.Method, path: r.URL.Path, contentType: r.Header.Get("Content-Type"),
			accept: r.Header.Get("Accept"), authorization: r.Header.Get("Authorization"),
			userAgent: r.Header.Get("User-Agent"), body: string(b),
		})
		rcv.mu.Unlock()
		if rcv.body != "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(rcv.status)
		_, _ = io.WriteString(w, rcv.body)
	}))
	t.Cleanup(rcv.srv.Close)
	return rcv
}

func (rcv *eventsReceiver) url() string { return rcv.srv.URL + "/account-events" }

func (rcv *eventsReceiver) requests() []pushed {
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	return append([]pushed(nil), rcv.got...)
}

// setupEvents runs a provider that pushes account events to rcv.
func setupEvents(t *testing.T, rcv *eventsReceiver) *testEnv {
	t.Helper()
	return setup(t, func(c *devoidc.Config) {
		c.EventsURL = rcv.url()
		c.EventsToken = eventsToken
		c.EventsAudience = eventsAudience
	})
}

// signInSub signs in as email through the whole code flow and returns the
// ID token's sub.
func (e *testEnv) signInSub(t *testing.T, email string) string {
	t.Helper()
	a := newAuthRequest("")
	tok, err := e.oauth2Config().Exchange(t.Context(), e.signInCode(t, a, email, true), oauth2.VerifierOption(a.verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	parsed, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	var c jwt.Claims
	if err := parsed.Claims(e.jwks(t), &c); err != nil {
		t.Fatalf("ID token: %v", err)
	}
	return c.Subject
}

// jwks fetches the provider's published keys.
func (e *testEnv) jwks(t *testing.T) *jose.JSONWebKeySet {
	t.Helper()
	status, body, _ := e.get(t, e.url(".well-known/jwks.json"), nil)
	if status != http.StatusOK {
		t.Fatalf("JWKS: status %d", status)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(body), &set); err != nil {
		t.Fatal(err)
	}
	return &set
}

// verifySET checks raw's signature against the published JWKS and its
// header, and returns its claims.
func (e *testEnv) verifySET(t *testing.T, raw string) map[string]any {
	t.Helper()
	parsed, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatalf("SET is not an ES256 JWT: %v", err)
	}
	set := e.jwks(t)
	h := parsed.Headers[0]
	if typ := h.ExtraHeaders["typ"]; typ != "secevent+jwt" {
		t.Errorf("typ = %v, want secevent+jwt", typ)
	}
	if len(set.Key(h.KeyID)) != 1 {
		t.Errorf("kid %q is not in the JWKS", h.KeyID)
	}
	var claims map[string]any
	if err := parsed.Claims(set, &claims); err != nil {
		t.Fatalf("SET does not verify with the JWKS: %v", err)
	}
	return claims
}

// checkSET checks the claims every SET has and returns its events.
func (e *testEnv) checkSET(t *testing.T, claims map[string]any, sub string, toe time.Time) map[string]any {
	t.Helper()
	if claims["iss"] != e.issuer {
		t.Errorf("iss = %v, want %q", claims["iss"], e.issuer)
	}
	if claims["aud"] != eventsAudience {
		t.Errorf("aud = %#v, want the string %q", claims["aud"], eventsAudience)
	}
	jti, _ := claims["jti"].(string)
	if _, err := uuid.Parse(jti); err != nil || len(jti) != 36 {
		t.Errorf("jti = %#v, want a UUID", claims["jti"])
	}
	iat, _ := claims["iat"].(float64)
	if d := time.Since(time.Unix(int64(iat), 0)); d < -time.Second || d > time.Minute {
		t.Errorf("iat = %v, not now", claims["iat"])
	}
	if got, _ := claims["toe"].(float64); int64(got) != toe.Unix() {
		t.Errorf("toe = %v, want %d", claims["toe"], toe.Unix())
	}
	wantSubID := map[string]any{"format": "iss_sub", "iss": e.issuer, "sub": sub}
	if diff := cmp.Diff(wantSubID, claims["sub_id"]); diff != "" {
		t.Errorf("sub_id (-want +got):\n%s", diff)
	}
	for _, name := range []string{"sub", "exp", "nonce"} {
		if _, ok := claims[name]; ok {
			t.Errorf("SET has a %s claim", name)
		}
	}
	events, _ := claims["events"].(map[string]any)
	if len(events) != 1 {
		t.Errorf("events = %#v, want one event", claims["events"])
	}
	return events
}

func TestSecurityEventToken(t *testing.T) {
	e := setupEvents(t, newEventsReceiver(t, http.StatusAccepted, ""))
	sub := devoidc.Sub("set@example.com")
	toe := time.Now().Add(-time.Hour).Truncate(time.Second)

	raw, err := e.provider.SecurityEventToken(sub, devoidc.EventIdentifierChanged,
		map[string]any{"new-value": "new@example.com", "email_verified": true}, toe)
	if err != nil {
		t.Fatal(err)
	}
	events := e.checkSET(t, e.verifySET(t, raw), sub, toe)
	want := map[string]any{devoidc.EventIdentifierChanged: map[string]any{"new-value": "new@example.com", "email_verified": true}}
	if diff := cmp.Diff(want, events); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}

	raw, err = e.provider.SecurityEventToken(sub, devoidc.EventAccountPurged, nil, toe)
	if err != nil {
		t.Fatal(err)
	}
	events = e.checkSET(t, e.verifySET(t, raw), sub, toe)
	want = map[string]any{devoidc.EventAccountPurged: map[string]any{}}
	if diff := cmp.Diff(want, events); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}

	if _, err := e.provider.SecurityEventToken("", devoidc.EventAccountPurged, nil, toe); err == nil {
		t.Error("a SET without a sub was signed")
	}
}

func TestPushEvent(t *testing.T) {
	rcv := newEventsReceiver(t, http.StatusBadRequest, `{"err":"invalid_request","description":"nope"}`)
	e := setupEvents(t, rcv)
	status, body, err := e.provider.PushEvent(t.Context(), "a.b.c")
	if err != nil || status != http.StatusBadRequest || body != rcv.body {
		t.Errorf("PushEvent = %d, %q, %v; want 400, %q, nil", status, body, err, rcv.body)
	}
	got := rcv.requests()
	want := []pushed{{
		method: http.MethodPost, path: "/account-events", contentType: "application/secevent+jwt",
		accept: "application/json", authorization: "Bearer " + eventsToken, userAgent: "dev-oidc", body: "a.b.c",
	}}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(pushed{})); diff != "" {
		t.Errorf("request (-want +got):\n%s", diff)
	}

	// A redirect is the answer, not a place to go.
	redirect := httptest.NewServer(http.RedirectHandler(rcv.url(), http.StatusTemporaryRedirect))
	t.Cleanup(redirect.Close)
	e2 := setup(t, func(c *devoidc.Config) { c.EventsURL, c.EventsAudience = redirect.URL, eventsAudience })
	status, _, err = e2.provider.PushEvent(t.Context(), "a.b.c")
	if err != nil || status != http.StatusTemporaryRedirect || len(rcv.requests()) != 1 {
		t.Errorf("redirected push: status %d, err %v, receiver got %d", status, err, len(rcv.requests()))
	}
}

// onlySET returns the one SET rcv got, after checking how it came.
func onlySET(t *testing.T, rcv *eventsReceiver) string {
	t.Helper()
	got := rcv.requests()
	if len(got) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(got))
	}
	r := got[0]
	if r.method != http.MethodPost || r.path != "/account-events" || r.contentType != "application/secevent+jwt" ||
		r.accept != "application/json" || r.authorization != "Bearer "+eventsToken {
		t.Errorf("push = %s %s, Content-Type %q, Accept %q, Authorization %q", r.method, r.path, r.contentType, r.accept, r.authorization)
	}
	return r.body
}

func TestChangeEmailButton(t *testing.T) {
	rcv := newEventsReceiver(t, http.StatusAccepted, "")
	e := setupEvents(t, rcv)
	oldEmail, newEmail := "before@example.com", "After@Example.com"
	sub := e.signInSub(t, oldEmail)
	if sub != devoidc.Sub(oldEmail) {
		t.Fatalf("first sign-in: sub %q, want Sub(email)", sub)
	}

	status, body, _ := e.get(t, e.issuer, nil)
	if status != http.StatusOK {
		t.Fatalf("home: status %d", status)
	}
	for _, want := range []string{
		devBanner, rcv.url(), `action="account-email"`, `action="account-delete"`, `name="new_email" required`,
		`type="email"`, `name="email_verified" value="true" checked`, "New email is verified",
		"Change this account's email", `class="warning">Delete this account`, `name="sub" value="` + sub + `"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("home page lacks %q", want)
		}
	}

	before := time.Now().Truncate(time.Second)
	resp, body := e.postFormAuth(t, e.url("account-email"), url.Values{"sub": {sub}, "new_email": {" " + newEmail + " "}, "email_verified": {"true"}}, "", "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "202 Accepted") || strings.Contains(body, "Failure") {
		t.Fatalf("change email: status %d, body:\n%s", resp.StatusCode, body)
	}
	claims := e.verifySET(t, onlySET(t, rcv))
	events := e.checkSET(t, claims, sub, time.Unix(int64(claims["toe"].(float64)), 0))
	if toe := time.Unix(int64(claims["toe"].(float64)), 0); toe.Before(before) || toe.After(time.Now()) {
		t.Errorf("toe %v is not the time of the click", toe)
	}
	want := map[string]any{devoidc.EventIdentifierChanged: map[string]any{"new-value": newEmail, "email_verified": true}}
	if diff := cmp.Diff(want, events); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	for _, want := range []string{devBanner, devoidc.EventIdentifierChanged, claims["jti"].(string), rcv.url()} {
		if !strings.Contains(body, want) {
			t.Errorf("result page lacks %q", want)
		}
	}

	if got := e.signInSub(t, strings.ToLower(newEmail)); got != sub {
		t.Errorf("sign-in with the new email: sub %q, want the account's %q", got, sub)
	}
	again := e.signInSub(t, oldEmail)
	if again == sub {
		t.Error("the old email still signs in to the moved account")
	}
	if !strings.HasPrefix(again, "urn:fdc:gov.uk:2022:") || len(again) != len("urn:fdc:gov.uk:2022:")+43 {
		t.Errorf("new person's sub = %q", again)
	}

	// Unverified: the event says so.
	resp, _ = e.postFormAuth(t, e.url("account-email"), url.Values{"sub": {sub}, "new_email": {"third@example.com"}}, "", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("unverified change: status %d", resp.StatusCode)
	}
	got := rcv.requests()
	events = e.checkSET(t, e.verifySET(t, got[len(got)-1].body), sub, time.Now())
	want = map[string]any{devoidc.EventIdentifierChanged: map[string]any{"new-value": "third@example.com", "email_verified": false}}
	if diff := cmp.Diff(want, events); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestDeleteAccountButton(t *testing.T) {
	rcv := newEventsReceiver(t, http.StatusAccepted, "")
	e := setupEvents(t, rcv)
	email := "leaving@example.com"
	sub := e.signInSub(t, email)

	resp, body := e.postFormAuth(t, e.url("account-delete"), url.Values{"sub": {sub}}, "", "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "202 Accepted") || strings.Contains(body, "Failure") {
		t.Fatalf("delete: status %d, body:\n%s", resp.StatusCode, body)
	}
	claims := e.verifySET(t, onlySET(t, rcv))
	events := e.checkSET(t, claims, sub, time.Unix(int64(claims["toe"].(float64)), 0))
	if diff := cmp.Diff(map[string]any{devoidc.EventAccountPurged: map[string]any{}}, events); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	for _, want := range []string{devBanner, devoidc.EventAccountPurged, claims["jti"].(string)} {
		if !strings.Contains(body, want) {
			t.Errorf("result page lacks %q", want)
		}
	}
	if _, home, _ := e.get(t, e.issuer, nil); strings.Contains(home, sub) {
		t.Error("the home page still lists the deleted account")
	}

	again := e.signInSub(t, email)
	if again == sub || again == devoidc.Sub(email) {
		t.Errorf("re-created account: sub %q, want a new one (deleted %q)", again, sub)
	}

	// The deleted sub is no account any more: nothing more is pushed.
	resp, _ = e.postFormAuth(t, e.url("account-delete"), url.Values{"sub": {sub}}, "", "")
	if resp.StatusCode != http.StatusBadRequest || len(rcv.requests()) != 1 {
		t.Errorf("deleting twice: status %d, %d pushes", resp.StatusCode, len(rcv.requests()))
	}
}

func TestAccountEventRejected(t *testing.T) {
	rcv := newEventsReceiver(t, http.StatusBadRequest, `{"err":"invalid_key","description":"no such kid"}`)
	e := setupEvents(t, rcv)
	sub := e.signInSub(t, "rejected@example.com")
	resp, body := e.postFormAuth(t, e.url("account-delete"), url.Values{"sub": {sub}}, "", "")
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("status %d, want 502", resp.StatusCode)
	}
	for _, want := range []string{devBanner, failureText, "400 Bad Request", "invalid_key", "no such kid", `role="alert"`} {
		if !strings.Contains(body, want) {
			t.Errorf("result page lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "The service accepted the event") {
		t.Error("a 400 is shown as accepted")
	}

	// Nobody listening: a failure too.
	rcv.srv.Close()
	sub = e.signInSub(t, "unheard@example.com")
	resp, body = e.postFormAuth(t, e.url("account-delete"), url.Values{"sub": {sub}}, "", "")
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "Failure: the event was not delivered") {
		t.Errorf("no receiver: status %d, body:\n%s", resp.StatusCode, body)
	}
}

func TestAccountButtonsRejectBadForms(t *testing.T) {
	rcv := newEventsReceiver(t, http.StatusAccepted, "")
	e := setupEvents(t, rcv)
	sub := e.signInSub(t, "kept@example.com")
	e.signInSub(t, "other@example.com")
	tests := []struct {
		name   string
		path   string
		form   url.Values
		header http.Header
		want   int
	}{
		{name: "change: unknown sub", path: "account-email", form: url.Values{"sub": {devoidc.Sub("nobody@example.com")}, "new_email": {"x@example.com"}}, want: http.StatusBadRequest},
		{name: "change: no sub", path: "account-email", form: url.Values{"new_email": {"x@example.com"}}, want: http.StatusBadRequest},
		{name: "change: no @", path: "account-email", form: url.Values{"sub": {sub}, "new_email": {"example.com"}}, want: http.StatusBadRequest},
		{name: "change: empty email", path: "account-email", form: url.Values{"sub": {sub}}, want: http.StatusBadRequest},
		{name: "change: too long", path: "account-email", form: url.Values{"sub": {sub}, "new_email": {strings.Repeat("a", 243) + "@example.com"}}, want: http.StatusBadRequest},
		{name: "change: another account's email", path: "account-email", form: url.Values{"sub": {sub}, "new_email": {"Other@example.com"}}, want: http.StatusBadRequest},
		{name: "delete: unknown sub", path: "account-delete", form: url.Values{"sub": {"urn:fdc:gov.uk:2022:nobody"}}, want: http.StatusBadRequest},
		{name: "delete: no sub", path: "account-delete", form: url.Values{}, want: http.StatusBadRequest},
		{name: "delete: cross-site", path: "account-delete", form: url.Values{"sub": {sub}}, header: http.Header{"Sec-Fetch-Site": {"cross-site"}}, want: http.StatusForbidden},
		{name: "change: cross-origin", path: "account-email", form: url.Values{"sub": {sub}, "new_email": {"x@example.com"}}, header: http.Header{"Origin": {"https://evil.example"}}, want: http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.url(tt.path), strings.NewReader(tt.form.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for k, vs := range tt.header {
				req.Header[k] = vs
			}
			resp, err := e.browser.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d; body:\n%s", resp.StatusCode, tt.want, b)
			}
			if tt.want == http.StatusBadRequest && !strings.Contains(string(b), devBanner) {
				t.Error("error page lacks the dev banner")
			}
		})
	}
	if n := len(rcv.requests()); n != 0 {
		t.Errorf("receiver got %d pushes, want none", n)
	}
	if got := e.signInSub(t, "kept@example.com"); got != sub {
		t.Errorf("after rejected forms, kept@example.com signs in as %q, want %q", got, sub)
	}
}

func TestAccountEventsOff(t *testing.T) {
	e := setup(t, nil)
	sub := e.signInSub(t, "plain@example.com")
	_, body, _ := e.get(t, e.issuer, nil)
	if !strings.Contains(body, "plain@example.com") || strings.Contains(body, "account-email") || strings.Contains(body, "Delete this account") {
		t.Errorf("home page without an events URL:\n%s", body)
	}
	for _, path := range []string{"account-email", "account-delete"} {
		resp := e.postForm(t, e.url(path), url.Values{"sub": {sub}, "new_email": {"x@example.com"}})
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("POST /%s: status %d, want 404", path, resp.StatusCode)
		}
	}
	if _, _, err := e.provider.PushEvent(t.Context(), "a.b.c"); err == nil {
		t.Error("PushEvent without an events URL did not fail")
	}
}
