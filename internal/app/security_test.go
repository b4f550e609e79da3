package app_test

// Security tests: each asserts a protection that a change could remove
// without any journey test noticing. Shared fixtures are at the top, tests
// below in the order of the threats they cover.

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"email-alert/events"
	"email-alert/frontend"
	"email-alert/internal/config"
	"email-alert/internal/dev/devoidc"
	"email-alert/internal/testkit/testdb"
	"email-alert/internal/testkit/testrig"
	"email-alert/jsonapi"
)

// exchange is one HTTP response a test client saw.
type exchange struct {
	method string
	url    *url.URL
	status int
	header http.Header
}

// recorder is a transport that keeps every exchange, so a test can check
// headers and cookies of every hop of a journey, redirects included.
type recorder struct {
	mu   sync.Mutex
	seen []exchange
	next http.RoundTripper
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err == nil {
		r.mu.Lock()
		r.seen = append(r.seen, exchange{req.Method, req.URL, resp.StatusCode, resp.Header.Clone()})
		r.mu.Unlock()
	}
	return resp, err
}

func (r *recorder) exchanges() []exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seen)
}

// secSite is an AccountSite (frontend, API, dev-oidc) built with extra
// environment, whose browser records every exchange and never follows a
// redirect off this site or the provider.
type secSite struct {
	*testrig.AccountSite
	rec        *recorder
	publicHost string
	issuerHost string
}

func newSecuritySite(t *testing.T, parallel bool, env map[string]string) *secSite {
	t.Helper()
	if parallel {
		t.Parallel()
	}
	as := testrig.StartAccountSite(t, env)
	issuerURL, _ := url.Parse(as.Issuer)
	publicURL, _ := url.Parse(as.Public)
	publicHost, issuerHost := publicURL.Host, issuerURL.Host
	rec := &recorder{next: http.DefaultTransport}
	jar, _ := cookiejar.New(nil)
	as.Client = &http.Client{Jar: jar, Transport: rec, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if req.URL.Host != publicHost && req.URL.Host != issuerHost {
			return http.ErrUseLastResponse // never visit another site
		}
		return nil
	}}
	return &secSite{AccountSite: as, rec: rec, publicHost: publicHost, issuerHost: issuerHost}
}

// hop is one response, redirects not followed.
type hop struct {
	status int
	header http.Header
	body   string
}

// raw sends one request without the browser's cookie jar and without
// following redirects; cookies go in header.
func (s *secSite) raw(method, path string, form url.Values, header http.Header) hop {
	s.T.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, s.Public+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	client := &http.Client{Transport: s.rec, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		s.T.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return hop{resp.StatusCode, resp.Header, string(b)}
}

// withSession is the header of a request carrying session token as its
// cookie.
func withSession(token string) http.Header {
	return http.Header{"Cookie": {frontend.SessionCookie + "=" + token}}
}

// signedInWith reports whether a request carrying token as its session
// cookie reaches /email/manage.
func (s *secSite) signedInWith(token string) bool {
	s.T.Helper()
	return s.raw(http.MethodGet, "/email/manage", nil, withSession(token)).status == http.StatusOK
}

// magicSignIn signs address (a known, unlinked subscriber) in by magic
// link in the browser and returns the new session token.
func (s *secSite) magicSignIn(address string) string {
	s.T.Helper()
	if p := s.Post("/email/manage/authenticate", url.Values{"address": {address}}, nil); p.Status != http.StatusOK {
		s.T.Fatalf("sign-in request for %s: %d", address, p.Status)
	}
	kind, link := s.EmailTo(address)
	if kind != "sign_in" {
		s.T.Fatalf("email to %s: %q, want sign_in", address, kind)
	}
	if p := s.Get(link); p.URL.Path != "/email/manage" {
		s.T.Fatalf("sign-in link ended at %s (%d)", p.URL, p.Status)
	}
	return s.SessionCookie()
}

// subscribe subscribes address to the list "tax" (made if needed) through
// the API, sending the "You've subscribed" email, and returns the
// subscription id.
func (s *secSite) subscribe(address string) string {
	s.T.Helper()
	var list struct {
		SubscriberList struct{ ID int64 } `json:"subscriber_list"`
	}
	s.API.MustDo(s.T, "POST", "/subscriber-lists", `{"title":"Tax news","slug":"tax"}`, &list)
	var sub struct {
		Subscription struct{ ID string } `json:"subscription"`
	}
	s.API.MustDo(s.T, "POST", "/subscriptions", fmt.Sprintf(`{"address":%q,"subscriber_list_id":%d,"frequency":"daily"}`, address, list.SubscriberList.ID), &sub)
	return sub.Subscription.ID
}

// randomToken is well-formed (43 characters of base64url) and unknown.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func median(ds []time.Duration) time.Duration {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// TestSecurityAddressRequestsLookAlike: every form and endpoint that takes
// an address answers a known, a linked and an unknown address with the
// same status, the same headers (bar Date and X-Request-Id), byte-identical
// bodies, and after similar times (medians of interleaved requests). The
// addresses have the same length, so pages that repeat them are identical.
func TestSecurityAddressRequestsLookAlike(t *testing.T) {
	s := newSecuritySite(t, true, map[string]string{
		"RATE_LIMIT_PER_ADDRESS": "1000/minute", "RATE_LIMIT_PER_CLIENT": "1000/minute",
	})
	const known, linked, unknown = "ann@example.com", "bob@example.com", "dan@example.com"
	s.subscribe(known)
	s.subscribe(linked)
	s.subscribe("eve@example.com")
	if _, err := s.App.DB().Exec(`UPDATE subscribers SET govuk_account_id = 'urn:fdc:gov.uk:2022:bob' WHERE address = $1`, linked); err != nil {
		t.Fatal(err)
	}
	s.magicSignIn("eve@example.com") // for the address change

	type answer struct {
		status int
		header http.Header
		body   string
	}
	frontendForm := func(path string, form func(address string) url.Values) func(string) answer {
		return func(address string) answer {
			p := s.Post(path, form(address), nil)
			return answer{p.Status, p.Header, p.Body}
		}
	}
	apiCall := func(path, body string) func(string) answer {
		return func(address string) answer {
			w := s.API.Do("POST", path, fmt.Sprintf(body, address), nil)
			return answer{w.Code, w.Header(), w.Body.String()}
		}
	}
	// An address change onto a linked subscriber's address is refused,
	// saying it is managed through GOV.UK One Login (DESIGN.md), so there
	// only the known and unknown addresses must look alike. The asker is
	// signed in and rate limited; TestChangeAddressOntoLinkedSubscriberIsRefused
	// checks the refusal.
	linkedRefused := map[string]bool{"address change": true}
	for _, tc := range []struct {
		name string
		ask  func(address string) answer
	}{
		{"magic-link sign-in", frontendForm("/email/manage/authenticate", func(a string) url.Values { return url.Values{"address": {a}} })},
		{"subscription confirmation", frontendForm("/email/subscriptions/verify", func(a string) url.Values {
			return url.Values{"address": {a}, "topic_id": {"tax"}, "frequency": {"weekly"}}
		})},
		{"address change", frontendForm("/email/manage/address", func(a string) url.Values { return url.Values{"address": {a}} })},
		// POST /subscribers/auth-token answers 404/403 by contract (DESIGN.md):
		// its callers are trusted apps holding an API token.
		{"API confirmation token", apiCall("/subscriptions/auth-token", `{"address":%q,"topic_id":"tax","frequency":"weekly"}`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addresses := []string{known, linked, unknown}
			if linkedRefused[tc.name] {
				addresses = []string{known, unknown}
			}
			first := map[string]answer{}
			for _, a := range addresses { // warm up, and keep the answers
				first[a] = tc.ask(a)
			}
			want := first[known]
			if want.status != http.StatusOK {
				t.Fatalf("known address: %d\n%s", want.status, want.body)
			}
			for _, a := range addresses[1:] {
				got := first[a]
				if got.status != want.status {
					t.Errorf("%s: status %d, known address %d", a, got.status, want.status)
				}
				if d := cmp.Diff(comparableHeader(want.header), comparableHeader(got.header)); d != "" {
					t.Errorf("%s: headers differ from the known address's (-known +%s):\n%s", a, a, d)
				}
				if strings.ReplaceAll(got.body, a, known) != want.body || len(got.body) != len(want.body) {
					t.Errorf("%s: body differs from the known address's", a)
				}
			}

			// Timing: interleaved, in a different order each round, so
			// load on the machine falls on every address alike.
			const rounds = 15
			took := map[string][]time.Duration{}
			for r := range rounds {
				for i := range addresses {
					a := addresses[(i+r)%len(addresses)]
					start := time.Now()
					if got := tc.ask(a); got.status != want.status {
						t.Fatalf("round %d, %s: status %d", r, a, got.status)
					}
					took[a] = append(took[a], time.Since(start))
				}
			}
			lo, hi := time.Duration(1<<62), time.Duration(0)
			for _, a := range addresses {
				m := median(took[a])
				lo, hi = min(lo, m), max(hi, m)
			}
			if hi-lo > 50*time.Millisecond {
				t.Errorf("median times differ by %s (known %s, linked %s, unknown %s), want under 50ms",
					hi-lo, median(took[known]), median(took[linked]), median(took[unknown]))
			}
		})
	}
}

// comparableHeader drops the headers that differ on every response.
func comparableHeader(h http.Header) http.Header {
	h = h.Clone()
	for _, k := range []string{"Date", "X-Request-Id"} {
		h.Del(k)
	}
	return h
}

// TestSecurityTokenGuessingIsRateLimited: guessing tokens of emailed links
// (sign-in, confirmation, unsubscribe, address change) is limited per
// client with a budget of its own, apart from the budget for asking for
// emails; a one-click unsubscribe is limited per client and subscription,
// so a mail provider's server can post its users' one-clicks while one
// subscription's token still cannot be guessed at speed; asking for emails
// is limited per client and per address, in the pages and in the API,
// whether the address is known or not.
func TestSecurityTokenGuessingIsRateLimited(t *testing.T) {
	s := newSecuritySite(t, true, map[string]string{"RATE_LIMIT_PER_CLIENT": "10/hour"})
	s.subscribe("ann@example.com")
	id := uuid.NewString()
	oneClickGuess := struct{ method, path string }{"POST", "/email/unsubscribe/one-click/" + id + "?token="} // as a mail client posts it
	guesses := []struct{ method, path string }{
		{"GET", "/email/manage/authenticate/process?token="},
		{"GET", "/email/subscriptions/authenticate?topic_id=tax&frequency=daily&token="},
		{"GET", "/email/unsubscribe/" + id + "?token="},
		{"POST", "/email/unsubscribe/" + id},
		{"GET", "/email/manage/address/confirm?token="},
	}
	guess := func(method, path string) hop {
		switch {
		case method == "POST" && strings.HasSuffix(path, "token="):
			return s.raw(method, path+randomToken(), url.Values{"List-Unsubscribe": {"One-Click"}}, nil)
		case method == "POST":
			return s.raw(method, path, url.Values{"token": {randomToken()}}, nil)
		}
		return s.raw(method, path+randomToken(), nil, nil)
	}
	for i := range 10 { // the whole budget, shared by every kind of link
		g := guesses[i%len(guesses)]
		if h := guess(g.method, g.path); h.status != http.StatusGone {
			t.Fatalf("guess %d at %s %s: %d, want 410", i+1, g.method, g.path, h.status)
		}
	}
	// One subscription's one-click has its own budget, of the same size.
	for i := range 10 {
		if h := guess(oneClickGuess.method, oneClickGuess.path); h.status != http.StatusGone {
			t.Fatalf("one-click guess %d: %d, want 410", i+1, h.status)
		}
	}
	for _, g := range append(guesses, oneClickGuess) {
		h := guess(g.method, g.path)
		if h.status != http.StatusTooManyRequests || h.header.Get("Retry-After") == "" {
			t.Errorf("guess 11 at %s %s: %d (Retry-After %q), want 429", g.method, g.path, h.status, h.header.Get("Retry-After"))
		}
		if !strings.Contains(h.body, "You have tried too many links") {
			t.Errorf("guess 11 at %s %s: not the too-many-links page", g.method, g.path)
		}
		if g.method == "GET" && h.header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("429 at a token URL: Referrer-Policy %q", h.header.Get("Referrer-Policy"))
		}
	}

	// A mail provider's server, the same client, posts the one-click
	// unsubscribes of more subscribers than the budget: each is ended.
	for i := range 12 {
		s.subscribe(fmt.Sprintf("reader%d@example.com", i))
	}
	var oneClicks []string
	if err := s.App.DB().Select(&oneClicks, `SELECT list_unsubscribe_url FROM emails
		WHERE kind = 'subscribed' AND address LIKE 'reader%@example.com'`); err != nil || len(oneClicks) != 12 {
		t.Fatalf("one-click URLs: %d (%v), want 12", len(oneClicks), err)
	}
	for _, raw := range oneClicks {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if h := s.raw("POST", u.RequestURI(), url.Values{"List-Unsubscribe": {"One-Click"}}, nil); h.status != http.StatusOK {
			t.Errorf("a mail server's one-click %s: %d, want 200", u.Path, h.status)
		}
	}
	var active int
	if err := s.App.DB().Get(&active, `SELECT count(*) FROM subscriptions s JOIN subscribers p ON p.id = s.subscriber_id
		WHERE p.address LIKE 'reader%@example.com' AND s.ended_at IS NULL`); err != nil || active != 0 {
		t.Errorf("%d of the readers' subscriptions still active (%v), want 0", active, err)
	}

	// Asking for emails has a budget of its own per client: 10, then 429,
	// whatever the addresses.
	for i := range 11 {
		p := s.raw("POST", "/email/manage/authenticate", url.Values{"address": {fmt.Sprintf("someone%d@example.com", i)}}, nil)
		want := http.StatusOK
		if i == 10 {
			want = http.StatusTooManyRequests
		}
		if p.status != want {
			t.Fatalf("sign-in request %d from one client: %d, want %d", i+1, p.status, want)
		}
	}

	// The API's auth-token endpoints: 4 a minute per address, known or not.
	for _, tc := range []struct{ path, body string }{
		{"/subscribers/auth-token", `{"address":"nobody@example.com","destination":"/email/manage"}`},
		{"/subscriptions/auth-token", `{"address":"ann@example.com","topic_id":"tax","frequency":"daily"}`},
	} {
		var codes []int
		for range 5 {
			codes = append(codes, s.API.Do("POST", tc.path, tc.body, nil).Code)
		}
		if codes[3] == http.StatusTooManyRequests || codes[4] != http.StatusTooManyRequests {
			t.Errorf("%s, five times for one address: %v, want the fifth 429", tc.path, codes)
		}
	}
}

// logBuffer collects log output from many goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// journeys runs every journey that handles a secret: magic links of each
// purpose, guessed tokens, One Login sign-in and sign-out, back-channel
// logout (and its replay), the account-session API, and account events. It
// returns the secrets it saw go by, by where they came from.
func (s *secSite) journeys() map[string]string {
	t := s.T
	t.Helper()
	secrets := map[string]string{"API token": testrig.Token, "account events token": config.DevAccountEventsToken,
		"Notify callback token": config.DevNotifyCallbackToken}

	unsubscribeID := s.subscribe("ann@example.com") // the email has an unsubscribe link
	s.magicSignIn("ann@example.com")
	if p := s.Post("/email/manage/address", url.Values{"address": {"ann@new.example.com"}}, nil); p.Status != 200 {
		t.Fatalf("address change: %d", p.Status)
	}
	if _, link := s.EmailTo("ann@new.example.com"); s.Get(link).Status != 200 {
		t.Fatalf("address change link failed")
	}
	if p := s.Post("/email/subscriptions/verify", url.Values{"address": {"carol@example.com"}, "topic_id": {"tax"}, "frequency": {"weekly"}}, nil); p.Status != 200 {
		t.Fatalf("subscription confirmation request: %d", p.Status)
	}
	if _, link := s.EmailTo("carol@example.com"); s.Get(link).URL.Path != "/email/manage" {
		t.Fatalf("confirmation link did not sign carol in")
	}
	var body string
	if err := s.App.DB().Get(&body, `SELECT body FROM emails WHERE kind = 'subscribed' AND body LIKE '%' || $1 || '%' LIMIT 1`, unsubscribeID); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(regexp.MustCompile(`/email/unsubscribe/\S+`).FindString(body))
	s.Get(u.String())
	s.Post(u.Path, url.Values{"token": {u.Query().Get("token")}}, nil)
	guessed := randomToken()
	secrets["a guessed token"] = guessed
	s.Get("/email/manage/authenticate/process?token=" + guessed)
	s.Get("/email/manage/address/confirm?token=" + guessed)
	s.API.Do("POST", "/subscribers/auth-token", `{"address":"ann@new.example.com","destination":"/email/manage/authenticate/process"}`, nil)
	s.API.Do("GET", "/subscriber-lists/tax", "", http.Header{"Authorization": {"Bearer wrong-" + testrig.Token}})

	// One Login: sign in, use the session in the API, sign out, sign in
	// again and be logged out by the back channel, twice.
	if p := s.SignIn("fay@example.com", true, "/email/manage/authenticate/account?redirect_path=/email/manage"); p.URL.Path != "/email/manage" {
		t.Fatalf("One Login sign-in ended at %s (%d)", p.URL, p.Status)
	}
	session := s.SessionCookie()
	s.API.Do("POST", "/subscribers/govuk-account", `{"govuk_account_session":"`+session+`"}`, nil)
	s.API.Do("POST", "/subscribers/govuk-account", `{"govuk_account_session":"`+randomToken()+`"}`, nil)
	s.Get("/sign-out")
	s.SignIn("fay@example.com", true, "/email/manage/authenticate/account")
	sub := devoidc.Sub("fay@example.com")
	logout, err := s.Provider.LogoutToken(sub)
	if err != nil {
		t.Fatal(err)
	}
	secrets["logout token"] = logout
	for range 2 {
		s.raw("POST", "/sign-in/backchannel-logout", url.Values{"logout_token": {logout}}, nil)
	}
	s.raw("POST", "/sign-in/backchannel-logout", url.Values{"logout_token": {logout[:len(logout)-4] + "AAAA"}}, nil)
	s.Get("/sign-in/callback?code=" + randomToken() + "&state=" + randomToken())

	// Account events, through both ways in, and a forged one.
	set, err := s.Provider.SecurityEventToken(sub, events.EventIdentifierChanged, map[string]any{"new-value": "fay@new.example.com"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	secrets["security event token"] = set
	intake := http.Header{"Authorization": {"Bearer " + config.DevAccountEventsToken}, "Content-Type": {"application/secevent+jwt"}}
	for _, raw := range []string{set, set[:len(set)-4] + "AAAA"} {
		req := httptest.NewRequest("POST", "/account-events", strings.NewReader(raw))
		req.Header = intake.Clone()
		w := httptest.NewRecorder()
		s.API.Router.ServeHTTP(w, req)
	}
	s.API.Do("PUT", "/api/oidc-users/"+url.PathEscape(sub), `{"email":"fay@new.example.com","email_verified":true}`,
		http.Header{"Authorization": {"Bearer " + config.DevAccountEventsToken}})

	// Notify's callbacks, with their token.
	s.API.Do("POST", "/spam-reports", `{"to":"nobody@example.com"}`,
		http.Header{"Authorization": {"Bearer " + config.DevNotifyCallbackToken}})

	// Every token sent in an email, and every token, code, state, hint and
	// cookie seen on the wire.
	var bodies []string
	if err := s.App.DB().Select(&bodies, `SELECT body FROM emails`); err != nil {
		t.Fatal(err)
	}
	for _, b := range bodies {
		for _, m := range regexp.MustCompile(`token=([A-Za-z0-9_-]{43})`).FindAllStringSubmatch(b, -1) {
			secrets["emailed token "+m[1][:6]] = m[1]
		}
	}
	for _, e := range s.rec.exchanges() {
		for _, k := range []string{"token", "code", "state", "id_token_hint", "nonce", "code_challenge"} {
			if v := e.url.Query().Get(k); v != "" {
				secrets[k+" in "+e.url.Path] = v
			}
		}
		if loc, err := url.Parse(e.header.Get("Location")); err == nil {
			for _, k := range []string{"code", "state", "id_token_hint", "token"} {
				if v := loc.Query().Get(k); v != "" {
					secrets[k+" in a redirect to "+loc.Path] = v
				}
			}
		}
		for _, c := range (&http.Response{Header: e.header}).Cookies() {
			if c.Value != "" {
				secrets["cookie "+c.Name] = c.Value
				secrets["cookie "+c.Name+" "+c.Value[:min(6, len(c.Value))]] = c.Value
			}
		}
		if v := e.header.Get("GOVUK-Account-Session"); v != "" {
			secrets["GOVUK-Account-Session header"] = v
		}
	}
	return secrets
}

// TestSecurityNoSecretsInLogs runs every journey with the service's log
// (as main sets it up) captured, and finds in it no token, code, state,
// session or bearer token. It also checks that every page has a
// Referrer-Policy, and that pages reached by a URL holding a token, code
// or state have no-referrer. It changes the process-wide logger, so it
// does not run in parallel.
func TestSecurityNoSecretsInLogs(t *testing.T) {
	logs := &logBuffer{}
	previous := slog.Default()
	// The JSON log main sets up outside a local setup (newLogger).
	slog.SetDefault(slog.New(slog.NewJSONHandler(logs, nil)))
	t.Cleanup(func() { slog.SetDefault(previous) })

	s := newSecuritySite(t, false, map[string]string{"RATE_LIMIT_PER_CLIENT": "1000/minute"})
	secrets := s.journeys()
	out := logs.String()
	for _, want := range []string{`"path":"/email/manage/authenticate/process"`, `"path":"/sign-in/callback"`, `"msg":"back-channel logout refused"`, `"path":"/account-events"`} {
		if !strings.Contains(out, want) {
			t.Fatalf("the log has no %s: the capture does not work\n%s", want, out)
		}
	}
	if len(secrets) < 15 {
		t.Fatalf("only %d secrets seen: %v", len(secrets), slices.Sorted(maps.Keys(secrets)))
	}
	t.Logf("%d secrets looked for: %v", len(secrets), slices.Sorted(maps.Keys(secrets)))
	for name, secret := range secrets {
		if len(secret) >= 8 && strings.Contains(out, secret) {
			t.Errorf("the log holds the %s %q", name, secret)
		}
	}

	for _, e := range s.rec.exchanges() {
		if e.url.Host != s.publicHost {
			continue
		}
		policy := e.header.Get("Referrer-Policy")
		if !slices.Contains([]string{"no-referrer", "same-origin", "strict-origin-when-cross-origin"}, policy) {
			t.Errorf("%s %s: Referrer-Policy %q", e.method, e.url.Path, policy)
		}
		q := e.url.Query()
		if (q.Has("token") || q.Has("code") || q.Has("state")) && policy != "no-referrer" {
			t.Errorf("%s %s with a secret in its URL: Referrer-Policy %q, want no-referrer", e.method, e.url.Path, policy)
		}
	}
}

// TestSecuritySessionFixation: a session cookie the browser had before
// signing in, planted by an attacker or left from an earlier sign-in, is
// never the one after it, and no longer works; for magic-link sign-in,
// subscription confirmation and One Login.
func TestSecuritySessionFixation(t *testing.T) {
	s := newSecuritySite(t, true, nil)
	s.subscribe("ann@example.com")
	u, _ := url.Parse(s.Public)
	plant := func(value string) {
		s.Client.Jar.SetCookies(u, []*http.Cookie{{Name: frontend.SessionCookie, Value: value, Path: "/"}})
	}

	planted := randomToken()
	plant(planted)
	first := s.magicSignIn("ann@example.com")
	if first == planted || s.signedInWith(planted) {
		t.Errorf("magic-link sign-in kept the planted session cookie")
	}
	if !s.signedInWith(first) {
		t.Fatalf("the new session does not work")
	}

	// A live session (the attacker's own, say) planted before signing in
	// again is ended by it.
	second := s.magicSignIn("ann@example.com")
	if second == first || s.signedInWith(first) {
		t.Errorf("a second magic-link sign-in left the earlier session working")
	}

	if p := s.Post("/email/subscriptions/verify", url.Values{"address": {"ann@example.com"}, "topic_id": {"tax"}, "frequency": {"weekly"}}, nil); p.Status != 200 {
		t.Fatalf("confirmation request: %d", p.Status)
	}
	_, link := s.EmailTo("ann@example.com")
	if p := s.Get(link); p.URL.Path != "/email/manage" {
		t.Fatalf("confirmation link ended at %s", p.URL)
	}
	third := s.SessionCookie()
	if third == second || s.signedInWith(second) {
		t.Errorf("sign-in by confirmation link left the earlier session working")
	}

	if p := s.SignIn("fay@example.com", true, "/email/manage/authenticate/account"); p.URL.Path != "/email/manage" {
		t.Fatalf("One Login sign-in ended at %s", p.URL)
	}
	fourth := s.SessionCookie()
	if fourth == third || s.signedInWith(third) || !s.signedInWith(fourth) {
		t.Errorf("One Login sign-in left the earlier session working, or did not start one")
	}
	plant(planted)
	if p := s.SignIn("fay@example.com", true, "/email/manage/authenticate/account"); p.URL.Path != "/email/manage" {
		t.Fatalf("One Login sign-in ended at %s", p.URL)
	}
	if got := s.SessionCookie(); got == planted || s.signedInWith(planted) {
		t.Errorf("One Login sign-in kept the planted session cookie")
	}
}

// checkCookies checks every cookie set in exchanges with host: HttpOnly,
// SameSite Lax or Strict, a Path, and Secure when secure.
func checkCookies(t *testing.T, exchanges []exchange, host string, secure bool) (names []string) {
	t.Helper()
	for _, e := range exchanges {
		if e.url.Host != host {
			continue
		}
		for _, line := range e.header.Values("Set-Cookie") {
			c, err := http.ParseSetCookie(line)
			if err != nil {
				t.Errorf("%s: bad Set-Cookie %q", e.url.Path, line)
				continue
			}
			if !slices.Contains(names, c.Name) {
				names = append(names, c.Name)
			}
			if !c.HttpOnly || c.Path == "" || (c.SameSite != http.SameSiteLaxMode && c.SameSite != http.SameSiteStrictMode) || c.Secure != secure {
				t.Errorf("%s %s: cookie %q, want HttpOnly, SameSite Lax or Strict, a Path, and Secure %v", e.method, e.url.Path, line, secure)
			}
			if strings.HasPrefix(c.Name, "__Host-") && (!c.Secure || c.Path != "/" || c.Domain != "") {
				t.Errorf("cookie %q breaks the __Host- rules", line)
			}
		}
	}
	return names
}

// TestSecurityCookieFlags: every cookie the service sets, during every
// journey, is HttpOnly, SameSite=Lax, has a Path, and is Secure exactly
// when PUBLIC_URL is https (config.go; a local http setup cannot use it).
// The names are the contract's (email_alert_session), so no __Host- prefix.
func TestSecurityCookieFlags(t *testing.T) {
	s := newSecuritySite(t, true, map[string]string{"RATE_LIMIT_PER_CLIENT": "1000/minute"})
	s.journeys()
	names := checkCookies(t, s.rec.exchanges(), s.publicHost, false)
	slices.Sort(names)
	if want := []string{"email_alert_session", "email_alert_sign_in"}; !slices.Equal(names, want) {
		t.Errorf("cookies set: %v, want %v", names, want)
	}

	// The same app behind an https PUBLIC_URL (so not local: every secret
	// given), driven in process.
	db, dbURL := testdb.New(t)
	a := testrig.NewAppOn(t, db, map[string]string{
		"DATABASE_URL": dbURL, "PUBLIC_URL": "https://www.example.gov.uk",
		"API_TOKENS": testrig.Token, "ACCOUNT_EVENTS_TOKEN": "events-token-0123456789", "NOTIFY_CALLBACK_TOKEN": callbackToken,
		"OIDC_ISSUER_URL": s.Issuer, "OIDC_CLIENT_ID": "email-alert-dev", "OIDC_CLIENT_SECRET": "not-used-here",
		"ACCOUNT_EVENTS_ISSUER": s.Issuer, "ACCOUNT_EVENTS_JWKS_URL": s.Issuer + ".well-known/jwks.json",
		"ACCOUNT_EVENTS_AUDIENCE": "https://www.example.gov.uk", "ONE_LOGIN_ACCOUNT_URL": s.Issuer,
	})
	h := a.FrontendHandler()
	var seen []exchange
	serve := func(method, target string, form url.Values, cookies ...*http.Cookie) *httptest.ResponseRecorder {
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req := httptest.NewRequest(method, "https://www.example.gov.uk"+target, body)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		for _, c := range cookies {
			req.AddCookie(c)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		seen = append(seen, exchange{method, req.URL, w.Code, w.Header()})
		return w
	}
	(&testrig.API{Router: a.APIRouter()}).MustDo(t, "POST", "/subscriber-lists", `{"title":"Tax news"}`, nil)
	(&testrig.API{Router: a.APIRouter()}).MustDo(t, "POST", "/subscriptions", `{"address":"ann@example.com","subscriber_list_id":1,"skip_confirmation_email":true}`, nil)
	serve("POST", "/email/manage/authenticate", url.Values{"address": {"ann@example.com"}})
	var body string
	if err := a.DB().Get(&body, `SELECT body FROM emails WHERE kind = 'sign_in'`); err != nil {
		t.Fatal(err)
	}
	link := regexp.MustCompile(`https://www\.example\.gov\.uk(/\S+)`).FindStringSubmatch(body)
	if link == nil {
		t.Fatalf("no sign-in link in %q", body)
	}
	signedIn := serve("GET", link[1], nil)
	session := (&http.Response{Header: signedIn.Header()}).Cookies()
	if signedIn.Code != http.StatusSeeOther || len(session) != 1 {
		t.Fatalf("https sign-in: %d, cookies %v", signedIn.Code, session)
	}
	serve("GET", "/sign-out", nil, session[0])
	if w := serve("GET", "/email/manage/authenticate/account", nil); w.Code != http.StatusFound {
		t.Errorf("https One Login start: %d", w.Code)
	}
	serve("GET", "/sign-in/callback?error=access_denied", nil)
	if names := checkCookies(t, seen, "www.example.gov.uk", true); len(names) != 2 {
		t.Errorf("https journey set cookies %v, want both", names)
	}
}

// offSite lists redirect targets that leave the site in some browser.
var offSite = []string{
	"//evil.example", "///evil.example", "https://evil.example", "http:evil.example", "http:/evil.example",
	`/\evil.example`, `\\evil.example`, `\/evil.example`, "/%2F%2Fevil.example", "%2F%2Fevil.example",
	"/%5Cevil.example", "javascript:alert(1)", "JavaScript:alert(1)", "data:text/html,<script>alert(1)</script>",
	"/\t/evil.example", "/\n/evil.example", "/\r/evil.example", "\t//evil.example", " //evil.example",
	"/%09/evil.example", "/%0a/evil.example", "//evil.example@www.gov.uk", "/@evil.example", "evil.example",
}

// onSite reports whether a Location stays on this site: a path (starting
// with one /, or relative), or an absolute http(s) URL on one of hosts.
func onSite(location string, hosts ...string) bool {
	if location == "" || strings.ContainsAny(location, "\\\t\r\n\x00 ") {
		return false
	}
	if strings.HasPrefix(location, "/") {
		return !strings.HasPrefix(location, "//")
	}
	u, err := url.Parse(location)
	if err == nil && u.Scheme == "" && u.Host == "" && u.Opaque == "" && !strings.Contains(location, ":") {
		return true // a relative path (gin's trailing-slash redirect with X-Forwarded-Prefix)
	}
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && slices.Contains(hosts, u.Host)
}

// TestSecurityNoOpenRedirects tries off-site targets on every route that
// redirects: One Login's redirect_path (through the whole sign-in), the
// API's sign-in destination (which becomes an emailed link), the router's
// own trailing-slash redirects, sign-out, and the fixed redirects of the
// manage and subscribe pages. Every Location is a path on this site, or
// One Login's authorize or end-session endpoint.
func TestSecurityNoOpenRedirects(t *testing.T) {
	s := newSecuritySite(t, true, map[string]string{"RATE_LIMIT_PER_ADDRESS": "1000/minute", "RATE_LIMIT_PER_CLIENT": "1000/minute"})
	s.subscribe("ann@example.com")
	check := func(what, location string) {
		t.Helper()
		if !onSite(location, s.publicHost, s.issuerHost) {
			t.Errorf("%s: redirected off site to %q", what, location)
		}
	}
	lastLocation := func(path string) string {
		ex := s.rec.exchanges()
		for i := len(ex) - 1; i >= 0; i-- {
			if ex[i].url.Path == path {
				return ex[i].header.Get("Location")
			}
		}
		return ""
	}

	for _, target := range offSite {
		start := s.raw("GET", "/email/manage/authenticate/account?redirect_path="+url.QueryEscape(target), nil, nil)
		if loc, _ := url.Parse(start.header.Get("Location")); loc == nil || loc.Host != s.issuerHost {
			t.Errorf("redirect_path %q: sign-in start went to %q, want the provider", target, start.header.Get("Location"))
		}
		p := s.SignIn("erin@example.com", true, "/email/manage/authenticate/account?redirect_path="+url.QueryEscape(target))
		check("redirect_path "+target, lastLocation("/sign-in/callback"))
		if p.URL.Host != s.publicHost {
			t.Errorf("redirect_path %q: landed on %s", target, p.URL)
		}

		// The magic link: the sign-in form's redirect_path never reaches
		// the email, and one added to the emailed link is not followed.
		s.Post("/email/manage/authenticate", url.Values{"address": {"ann@example.com"}, "redirect_path": {target}}, nil)
		if _, link := s.EmailTo("ann@example.com"); !strings.HasPrefix(link, "/email/manage/authenticate/process?") {
			t.Errorf("redirect_path %q: emailed sign-in link %q", target, link)
		} else {
			check("magic link with redirect_path "+target, s.raw("GET", link+"&redirect_path="+url.QueryEscape(target), nil, nil).header.Get("Location"))
		}

		w := s.API.Do("POST", "/subscribers/auth-token", fmt.Sprintf(`{"address":"ann@example.com","destination":%q}`, target), nil)
		if w.Code != http.StatusUnprocessableEntity {
			_, link := s.EmailTo("ann@example.com")
			if !strings.HasPrefix(link, "/") || strings.HasPrefix(link, "//") {
				t.Errorf("destination %q: %d, emailed link %q", target, w.Code, link)
			}
		}

		for _, path := range []string{"/" + strings.TrimLeft(target, "/") + "/", "/" + target + "/", target + "/"} {
			if !strings.HasPrefix(path, "/") {
				continue
			}
			req := httptest.NewRequest("GET", "http://"+s.publicHost+"/", nil)
			req.URL.Path, req.URL.RawPath, req.RequestURI = path, "", path
			w := httptest.NewRecorder()
			s.App.FrontendHandler().ServeHTTP(w, req)
			if loc := w.Header().Get("Location"); loc != "" {
				check("GET "+path, loc)
			}
		}
	}
	// gin's trailing-slash redirect reads X-Forwarded-Prefix.
	for _, prefix := range []string{"//evil.example", "https://evil.example", `/\evil.example`, "/..//evil.example"} {
		req := httptest.NewRequest("GET", "/email/manage/", nil)
		req.Header.Set("X-Forwarded-Prefix", prefix)
		w := httptest.NewRecorder()
		s.App.FrontendHandler().ServeHTTP(w, req)
		if loc := w.Header().Get("Location"); loc != "" {
			check("X-Forwarded-Prefix "+prefix, loc)
		}
	}

	// The fixed redirects: sign-out (magic-link and account sessions),
	// pages that need a session, and the subscribe step.
	for _, target := range []string{"/email/manage", "/email/manage/frequency/" + uuid.NewString(), "/email/manage/address"} {
		check("GET "+target+" signed out", s.raw("GET", target, nil, nil).header.Get("Location"))
	}
	for _, path := range []string{"/email/subscriptions/new", "/email/subscriptions/account", "/email/subscriptions/verify/account"} {
		check("POST "+path, s.raw("POST", path, url.Values{"topic_id": {"tax"}, "frequency": {"daily"}}, nil).header.Get("Location"))
	}
	check("GET the account confirmation", s.raw("GET", "/email/subscriptions/account/confirm?topic_id=tax&frequency=daily", nil, nil).header.Get("Location"))
	check("magic-link sign-out", s.raw("GET", "/sign-out", nil, withSession(s.magicSignIn("ann@example.com"))).header.Get("Location"))
	s.SignIn("fay@example.com", true, "/email/manage/authenticate/account")
	check("account sign-out", s.raw("GET", "/sign-out", nil, withSession(s.SessionCookie())).header.Get("Location"))
}

// TestSecurityEveryFormRefusesCrossSitePosts: every POST route of the
// frontend, taken from the router itself, refuses a cross-site post (by
// Origin or Sec-Fetch-Site, including same-site and the null origin) with
// 403, and changes nothing: no email, no session, no subscription change.
// The pages have no CSRF token to forge or omit: the protection is Go's
// cross-origin check on Origin and Sec-Fetch-Site (frontendHandler), the
// browser's own word for where a post comes from. Only the back-channel
// logout, called server to server and authenticated by its signed token,
// and the one-click unsubscribe, posted by mail clients and authenticated
// by the token in its URL, are exempt, and only on their exact paths.
func TestSecurityEveryFormRefusesCrossSitePosts(t *testing.T) {
	s := newSecuritySite(t, true, map[string]string{"RATE_LIMIT_PER_ADDRESS": "1000/minute", "RATE_LIMIT_PER_CLIENT": "1000/minute"})
	id := s.subscribe("ann@example.com")
	s.magicSignIn("ann@example.com")
	var unsubscribeToken string
	var body string
	if err := s.App.DB().Get(&body, `SELECT body FROM emails WHERE kind = 'subscribed'`); err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`token=([A-Za-z0-9_-]{43})`).FindStringSubmatch(body); m != nil {
		unsubscribeToken = m[1]
	}

	forms := map[string]url.Values{
		"/email/manage/authenticate":          {"address": {"ann@example.com"}},
		"/email/manage/frequency/:id":         {"frequency": {"weekly"}},
		"/email/unsubscribe/:id":              {},
		"/email/manage/unsubscribe-all":       {},
		"/email/manage/address":               {"address": {"ann@new.example.com"}},
		"/email/subscriptions/new":            {"topic_id": {"tax"}, "frequency": {"weekly"}},
		"/email/subscriptions/verify":         {"topic_id": {"tax"}, "frequency": {"weekly"}, "address": {"bob@example.com"}},
		"/email/subscriptions/verify/account": {"topic_id": {"tax"}, "frequency": {"weekly"}},
		"/email/subscriptions/account":        {"topic_id": {"tax"}, "frequency": {"weekly"}},
		"/sign-in/backchannel-logout":         {"logout_token": {"x"}},
		"/email/unsubscribe/:id (token)":      {"token": {unsubscribeToken}},
		"/email/unsubscribe/one-click/:id":    {"List-Unsubscribe": {"One-Click"}},
	}
	exempt := map[string]bool{"/sign-in/backchannel-logout": true, "/email/unsubscribe/one-click/:id": true}
	var routes []string
	for _, r := range s.App.FrontendRouter().Routes() {
		if r.Method == http.MethodPost {
			routes = append(routes, r.Path)
			if _, ok := forms[r.Path]; !ok {
				t.Errorf("POST %s is not in this test: add a valid form for it", r.Path)
			}
		}
	}
	if len(routes) < 8 {
		t.Fatalf("POST routes: %v", routes)
	}
	routes = append(routes, "/email/unsubscribe/:id (token)")

	state := func() string {
		var st struct {
			Emails, Sessions, Tokens, Active, Subscribers int
			Addresses                                     string
		}
		err := s.App.DB().Get(&st, `SELECT
			(SELECT count(*) FROM emails) AS emails, (SELECT count(*) FROM sessions) AS sessions,
			(SELECT count(*) FROM auth_tokens) AS tokens,
			(SELECT count(*) FROM subscriptions WHERE ended_at IS NULL) AS active,
			(SELECT count(*) FROM subscribers) AS subscribers,
			(SELECT coalesce(string_agg(address || ':' || s.frequency, ',' ORDER BY address), '')
			   FROM subscriptions s JOIN subscribers p ON p.id = s.subscriber_id WHERE s.ended_at IS NULL) AS addresses`)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%+v", st)
	}
	crossSite := []http.Header{
		{"Origin": {"https://evil.example"}},
		{"Origin": {"null"}},
		{"Origin": {"http://127.0.0.1:1"}}, // another port
		{"Sec-Fetch-Site": {"cross-site"}},
		{"Sec-Fetch-Site": {"same-site"}},
		{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"http://" + s.publicHost}},
	}
	before := state()
	for _, route := range routes {
		if exempt[route] {
			continue
		}
		path, _, _ := strings.Cut(strings.ReplaceAll(route, ":id", id), " ")
		for _, h := range crossSite {
			p := s.Post(path, forms[route], h)
			if p.Status != http.StatusForbidden {
				t.Errorf("cross-site POST %s with %v: %d, want 403", route, h, p.Status)
			}
		}
	}
	// Paths that a path-cleaning matcher would take for an exempt one.
	oneClick := "/email/unsubscribe/one-click/" + id + "?token=" + unsubscribeToken
	for _, path := range []string{"/sign-in//backchannel-logout", "/sign-in/backchannel-logout/", "/sign-in/backchannel-logout/../../email/manage/unsubscribe-all",
		"/sign-in/backchannel-logout/..%2F..%2Femail%2Fmanage%2Funsubscribe-all",
		"/email/unsubscribe/one-click//" + id, "/email/unsubscribe/one-click/" + id + "/",
		"/email/manage/unsubscribe-all/../../unsubscribe/one-click/" + id,
		"/email/unsubscribe/" + id + "/../one-click/" + id,
		"/email/unsubscribe/one-click/" + id + "/../../../manage/unsubscribe-all",
		"/email/unsubscribe/one-click/..%2F..%2Fmanage%2Funsubscribe-all"} {
		req := httptest.NewRequest("POST", "http://"+s.publicHost+"/", strings.NewReader(""))
		req.URL.Path, req.RequestURI = path, path
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		req.Header.Set("Cookie", frontend.SessionCookie+"="+s.SessionCookie())
		w := httptest.NewRecorder()
		s.App.FrontendHandler().ServeHTTP(w, req)
		if w.Code < 400 {
			t.Errorf("cross-site POST %s: %d", path, w.Code)
		}
	}
	if after := state(); after != before {
		t.Errorf("refused posts changed something:\nbefore %s\nafter  %s", before, after)
	}
	if p := s.Post("/sign-in/backchannel-logout", forms["/sign-in/backchannel-logout"], http.Header{"Sec-Fetch-Site": {"cross-site"}}); p.Status != http.StatusBadRequest {
		t.Errorf("cross-site back-channel logout with a bad token: %d, want 400 (exempt, and refused by its token)", p.Status)
	}
	forged := "/email/unsubscribe/one-click/" + id + "?token=" + randomToken()
	if p := s.Post(forged, forms["/email/unsubscribe/one-click/:id"], http.Header{"Sec-Fetch-Site": {"cross-site"}}); p.Status != http.StatusGone {
		t.Errorf("cross-site one-click unsubscribe with a bad token: %d, want 410 (exempt, and refused by its token)", p.Status)
	}
	if after := state(); after != before {
		t.Errorf("a one-click post with a bad token changed something:\nbefore %s\nafter  %s", before, after)
	}
	// The same posts from this site work: the test above is not vacuous.
	same := http.Header{"Origin": {s.Public}, "Sec-Fetch-Site": {"same-origin"}}
	if p := s.Post("/email/manage/frequency/"+id, forms["/email/manage/frequency/:id"], same); p.Status != http.StatusOK || !strings.Contains(p.Body, "once a week") {
		t.Errorf("same-origin frequency change: %d", p.Status)
	}
	if state() == before {
		t.Errorf("the same-origin post changed nothing")
	}
	// A mail client's one-click post, from elsewhere, with the token of
	// the email: exempt, and it unsubscribes.
	changed := state()
	if p := s.Post(oneClick, forms["/email/unsubscribe/one-click/:id"], http.Header{"Origin": {"https://mail.example"}, "Sec-Fetch-Site": {"cross-site"}}); p.Status != http.StatusOK {
		t.Errorf("cross-site one-click unsubscribe: %d, want 200", p.Status)
	}
	if state() == changed {
		t.Errorf("the one-click post changed nothing")
	}
}

// TestSecurityBackchannelLogoutReplay: a logout token ends the sessions of
// its account once; replayed after the person signed in again, it is
// refused and the new session lives on.
func TestSecurityBackchannelLogoutReplay(t *testing.T) {
	s := newSecuritySite(t, true, nil)
	if p := s.SignIn("bob@example.com", true, "/email/manage/authenticate/account"); p.URL.Path != "/email/manage" {
		t.Fatalf("sign-in ended at %s", p.URL)
	}
	first := s.SessionCookie()
	logout, err := s.Provider.LogoutToken(devoidc.Sub("bob@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	post := func() int {
		return s.raw("POST", "/sign-in/backchannel-logout", url.Values{"logout_token": {logout}}, nil).status
	}
	if code := post(); code != http.StatusOK || s.signedInWith(first) {
		t.Fatalf("back-channel logout: %d, session still working: %v", code, s.signedInWith(first))
	}
	if p := s.SignIn("bob@example.com", true, "/email/manage/authenticate/account"); p.URL.Path != "/email/manage" {
		t.Fatalf("sign-in again ended at %s", p.URL)
	}
	second := s.SessionCookie()
	for range 2 {
		if code := post(); code != http.StatusBadRequest {
			t.Errorf("replayed logout token: %d, want 400", code)
		}
	}
	if !s.signedInWith(second) {
		t.Errorf("a replayed logout token ended the new session")
	}
}

// TestSecurityBearerTokensAreCheckedInConstantTime: the bearer check
// guarding the API (API_TOKENS) and event intake (ACCOUNT_EVENTS_TOKEN)
// refuses tokens that differ from the real one in the first byte, the last
// byte, by a prefix or an extension; both routers use it for every
// authenticated route; and no secret anywhere in the service is compared
// with ==, !=, bytes.Equal or strings.EqualFold (a go/ast check), so
// every such comparison goes through crypto/subtle or a hash lookup.
func TestSecurityBearerTokensAreCheckedInConstantTime(t *testing.T) {
	t.Parallel()
	const secret = "s3cret-bearer-token-0123456789"
	gin.SetMode(gin.TestMode)
	r := gin.New()
	r.GET("/", jsonapi.BearerAuth([]string{"another-token-abcdef", secret}), func(c *gin.Context) { c.Status(http.StatusNoContent) })
	flip := func(s string, i int) string { b := []byte(s); b[i] ^= 1; return string(b) }
	for _, tc := range []struct {
		name, header string
		want         int
	}{
		{"the token", "Bearer " + secret, http.StatusNoContent},
		{"lower-case scheme", "bearer " + secret, http.StatusNoContent},
		{"first byte differs", "Bearer " + flip(secret, 0), http.StatusUnauthorized},
		{"last byte differs", "Bearer " + flip(secret, len(secret)-1), http.StatusUnauthorized},
		{"a prefix", "Bearer " + secret[:len(secret)-1], http.StatusUnauthorized},
		{"an extension", "Bearer " + secret + "0", http.StatusUnauthorized},
		{"empty", "Bearer ", http.StatusUnauthorized},
		{"no scheme", secret, http.StatusUnauthorized},
		{"basic", "Basic " + secret, http.StatusUnauthorized},
	} {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Authorization", tc.header)
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		if w.Code != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, w.Code, tc.want)
		}
	}

	// Every API route but the health checks is behind BearerAuth, with
	// the events token on the event intake routes only: asked of each
	// route in the routers' own tables, so a route added later is covered.
	db, dbURL := testdb.New(t)
	a := testrig.NewAppOn(t, db, map[string]string{"DATABASE_URL": dbURL, "API_TOKENS": testrig.Token, "ACCOUNT_EVENTS_TOKEN": eventsToken,
		"NOTIFY_CALLBACK_TOKEN": callbackToken})
	checkBearerRoutes(t, "api", a.APIRouter().Routes(), a.APIHandler())
	checkBearerRoutes(t, "metrics", a.MetricsRouter().Routes(), a.MetricsHandler())

	// No secret compared with a plain comparison, in any package of the
	// module. The checker itself is checked first.
	fset := token.NewFileSet()
	probe, err := parser.ParseFile(fset, "probe.go", `package p
		func f(token, want string, sum, hash []byte, c struct{ ClientSecret string }) bool {
			return token == want || bytes.Equal(sum, hash) || strings.EqualFold(c.ClientSecret, want) || token != "" || len(sum) == 32
		}`, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := plainSecretComparisons(fset, probe); len(got) != 3 {
		t.Fatalf("the checker found %v in the probe, want the three comparisons of secrets", got)
	}
	sources := moduleSources(t)
	for _, pkg := range secretHandlers {
		if len(sources[pkg]) == 0 {
			t.Errorf("package %s handles secrets but has no source files to scan: renamed? update secretHandlers", pkg)
		}
	}
	scanned := 0
	for pkg, files := range sources {
		if slices.Contains(unscanned, pkg) {
			continue
		}
		for _, name := range files {
			f, err := parser.ParseFile(fset, name, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			scanned++
			for _, problem := range plainSecretComparisons(fset, f) {
				t.Error(problem)
			}
		}
	}
	if scanned == 0 {
		t.Fatal("no source files scanned for plain comparisons of secrets")
	}
}

// eventsToken is ACCOUNT_EVENTS_TOKEN in the tests that need one.
const eventsToken = "test-events-token-9876543210"

// callbackToken is NOTIFY_CALLBACK_TOKEN in the tests that need one.
const callbackToken = "test-callback-token-5555"

// publicRoutes are the API routes anyone may call; eventRoutes take
// ACCOUNT_EVENTS_TOKEN, callbackRoutes NOTIFY_CALLBACK_TOKEN, and every
// other route an API_TOKENS token.
var (
	publicRoutes   = []string{"GET /healthcheck/live", "GET /healthcheck/ready"}
	eventRoutes    = []string{"POST /account-events", "PUT /api/oidc-users/:sub", "DELETE /api/oidc-users/:sub"}
	callbackRoutes = []string{"POST /status-updates", "POST /spam-reports"}
)

// checkBearerRoutes asks h each of routes with no token, a wrong one and
// the other surface's token, and wants BearerAuth's 401 for each; and
// with the route's own token, wants the request past BearerAuth. Public
// routes must answer without a token. Each route list must exist in routes.
func checkBearerRoutes(t *testing.T, surface string, routes gin.RoutesInfo, h http.Handler) {
	t.Helper()
	refused := func(w *httptest.ResponseRecorder) bool {
		return w.Code == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == `Bearer realm="email-alert"`
	}
	seen := map[string]bool{}
	for _, route := range routes {
		name := route.Method + " " + route.Path
		seen[name] = true
		answer := func(authorization string) *httptest.ResponseRecorder {
			req := httptest.NewRequest(route.Method, anyParams(route.Path), nil)
			if authorization != "" {
				req.Header.Set("Authorization", authorization)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			return w
		}
		if slices.Contains(publicRoutes, name) {
			if w := answer(""); w.Code == http.StatusUnauthorized {
				t.Errorf("%s: public route %s asks for a token", surface, name)
			}
			continue
		}
		// Each route takes its own group's token and refuses the others'.
		own := testrig.Token
		switch {
		case slices.Contains(eventRoutes, name):
			own = eventsToken
		case slices.Contains(callbackRoutes, name):
			own = callbackToken
		}
		refusals := []string{"", "Bearer ", "Bearer wrong-token"}
		for _, token := range []string{testrig.Token, eventsToken, callbackToken} {
			if token != own {
				refusals = append(refusals, "Bearer "+token)
			}
		}
		for _, authorization := range refusals {
			if w := answer(authorization); !refused(w) {
				t.Errorf("%s: %s with Authorization %q: %d, want BearerAuth's 401", surface, name, authorization, w.Code)
			}
		}
		if w := answer("Bearer " + own); refused(w) {
			t.Errorf("%s: %s refuses its own token", surface, name)
		}
	}
	if len(routes) == 0 {
		t.Errorf("%s: no routes found", surface)
	}
	if surface == "api" {
		for _, name := range slices.Concat(publicRoutes, eventRoutes, callbackRoutes) {
			if !seen[name] {
				t.Errorf("%s: no route %s: update publicRoutes, eventRoutes or callbackRoutes", surface, name)
			}
		}
	}
}

// secretHandlers are the packages that hold, check or pass on a secret
// (tokens, session ids, OIDC client secrets and nonces): each must be
// among the packages scanned for plain comparisons.
var secretHandlers = []string{
	"email-alert/internal/app",
	"email-alert/jsonapi",
	"email-alert/linking",
	"email-alert/events",
	"email-alert/frontend",
	"email-alert/mail",
	"email-alert/internal/dev/devoidc",
}

// unscanned are the packages left out of the scan: migrations are
// append-only history that holds no secret (00009's "key" is the grouping
// key of addresses).
var unscanned = []string{"email-alert/migrations"}

// moduleSources is the non-test Go files, by import path, of every
// package in the module, as `go list` finds them (build-constrained
// files included), so a package added or renamed is scanned too.
func moduleSources(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-json=ImportPath,Dir,GoFiles,CgoFiles,IgnoredGoFiles,Error", "email-alert/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	sources := map[string][]string{}
	for dec := json.NewDecoder(bytes.NewReader(out)); dec.More(); {
		var pkg struct {
			ImportPath, Dir                   string
			GoFiles, CgoFiles, IgnoredGoFiles []string
			Error                             *struct{ Err string }
		}
		if err := dec.Decode(&pkg); err != nil {
			t.Fatal(err)
		}
		if pkg.Error != nil {
			t.Fatalf("go list: %s: %s", pkg.ImportPath, pkg.Error.Err)
		}
		for _, name := range slices.Concat(pkg.GoFiles, pkg.CgoFiles, pkg.IgnoredGoFiles) {
			if !strings.HasSuffix(name, "_test.go") {
				sources[pkg.ImportPath] = append(sources[pkg.ImportPath], filepath.Join(pkg.Dir, name))
			}
		}
	}
	return sources
}

// secretName matches the names of values that must not be compared with
// a plain comparison, which stops at the first differing byte.
var secretName = regexp.MustCompile(`(?i)(token|secret|password|nonce|verifier|hash|sum|assertion|hint|cookie|session|key)$`)

// plainSecretComparisons lists the ==, !=, bytes.Equal, strings.EqualFold,
// strings.Compare and reflect calls in f that compare a secret with
// anything but a constant (a length or emptiness check leaks nothing).
func plainSecretComparisons(fset *token.FileSet, f *ast.File) []string {
	var problems []string
	ast.Inspect(f, func(n ast.Node) bool {
		var operands []ast.Expr
		switch n := n.(type) {
		case *ast.BinaryExpr:
			if n.Op == token.EQL || n.Op == token.NEQ {
				operands = []ast.Expr{n.X, n.Y}
			}
		case *ast.CallExpr:
			if sel, ok := n.Fun.(*ast.SelectorExpr); ok {
				if pkg, ok := sel.X.(*ast.Ident); ok && ((pkg.Name == "bytes" && sel.Sel.Name == "Equal") ||
					(pkg.Name == "strings" && (sel.Sel.Name == "EqualFold" || sel.Sel.Name == "Compare")) || pkg.Name == "reflect") {
					operands = n.Args
				}
			}
		}
		if len(operands) != 2 || isConstant(operands[0]) || isConstant(operands[1]) {
			return true
		}
		for _, o := range operands {
			if name := exprName(o); name != "" && secretName.MatchString(name) {
				problems = append(problems, fmt.Sprintf("%s: %s compared without crypto/subtle", fset.Position(n.Pos()), name))
				break
			}
		}
		return true
	})
	return problems
}

// isConstant reports whether e is a literal, nil, or a call (len(x) and
// the like compare lengths, which are not secret).
func isConstant(e ast.Expr) bool {
	switch e := e.(type) {
	case *ast.BasicLit:
		return true
	case *ast.Ident:
		return e.Name == "nil" || e.Name == "true" || e.Name == "false" || (e.Obj != nil && e.Obj.Kind == ast.Con)
	case *ast.CallExpr:
		return true
	case *ast.SelectorExpr:
		// A package's exported constant (http.MethodPost): the parser
		// resolves local names, so an unresolved one is a package.
		x, ok := e.X.(*ast.Ident)
		return ok && x.Obj == nil && ast.IsExported(e.Sel.Name)
	}
	return false
}

// exprName is the last name in e: token for token, c.Token for c.Token.
func exprName(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		return e.Sel.Name
	case *ast.StarExpr:
		return exprName(e.X)
	case *ast.IndexExpr:
		return exprName(e.X)
	}
	return ""
}

// anyParams fills route's parameters with a value each: the bearer check
// answers before any parameter is read, so any will do.
func anyParams(route string) string {
	segments := strings.Split(route, "/")
	for i, s := range segments {
		if strings.HasPrefix(s, ":") || strings.HasPrefix(s, "*") {
			segments[i] = "x"
		}
	}
	return strings.Join(segments, "/")
}
