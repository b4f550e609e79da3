package frontend_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"email-alert/frontend"
	"email-alert/internal/app"
	"email-alert/internal/testkit/testrig"
)

func TestMagicLinkJourney(t *testing.T) {
	s := testrig.NewSite(t)
	s.API.MustDo(t, "POST", "/subscriber-lists", `{"title":"Tax news"}`, nil)
	s.API.MustDo(t, "POST", "/subscriptions", `{"address":"ann@example.com","subscriber_list_id":1,"frequency":"daily","skip_confirmation_email":true}`, nil)

	p := s.Get("/email/manage")
	if p.URL.Path != "/email/manage/authenticate" || p.Status != 200 {
		t.Fatalf("/email/manage without a session: ended at %s (%d), want the sign-in page", p.URL, p.Status)
	}
	start := time.Now()
	p = s.Post("/email/manage/authenticate", url.Values{"address": {" Ann@Example.com "}}, nil)
	if took := time.Since(start); took < app.SignInFloor {
		t.Errorf("sign-in request answered in %s, before the %s floor", took, app.SignInFloor)
	}
	testrig.MustContain(t, p, "Check your email", "Ann@Example.com")

	kind, link := s.LastEmail("ann@example.com")
	if kind != "sign_in" || !strings.HasPrefix(link, "/email/manage/authenticate/process?token=") {
		t.Fatalf("email: %s with link %q, want a sign-in link", kind, link)
	}

	// The sign-in response itself: a new session cookie with the right flags.
	noFollow := *s.Client
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noFollow.Get(s.Server.URL + link)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cookie := resp.Header.Get("Set-Cookie")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/email/manage" ||
		!strings.HasPrefix(cookie, frontend.SessionCookie+"=") || !strings.Contains(cookie, "HttpOnly") ||
		!strings.Contains(cookie, "SameSite=Lax") || resp.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("sign-in: %d to %q, cookie %q, Referrer-Policy %q", resp.StatusCode, resp.Header.Get("Location"),
			cookie, resp.Header.Get("Referrer-Policy"))
	}
	for _, c := range resp.Cookies() {
		noFollow.Jar.SetCookies(resp.Request.URL, []*http.Cookie{c})
	}

	p = s.Get("/email/manage")
	if p.Status != 200 || p.URL.Path != "/email/manage" {
		t.Fatalf("/email/manage after sign-in: %s (%d)", p.URL, p.Status)
	}
	testrig.MustContain(t, p, "Subscriptions for ann@example.com", "Tax news", "once a day")
	if cc := p.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("personal page Cache-Control %q, want no-store", cc)
	}

	p = s.Get(link)
	if p.Status != http.StatusGone {
		t.Errorf("second use of the link: %d, want 410", p.Status)
	}
	testrig.MustContain(t, p, "This link has expired")
	p = s.Get("/email/manage/authenticate/process?token=%3Cscript%3E")
	if p.Status != http.StatusGone {
		t.Errorf("garbage token: %d, want 410", p.Status)
	}
}

// TestSignInRequestsLookAlike: known, linked and unknown addresses get the
// same page; only the known ones get an email, and a linked one the One
// Login email.
func TestSignInRequestsLookAlike(t *testing.T) {
	s := testrig.NewSite(t)
	s.API.MustDo(t, "POST", "/subscriber-lists", `{"title":"Tax news"}`, nil)
	for _, a := range []string{"ann@example.com", "bob@example.com"} {
		s.API.MustDo(t, "POST", "/subscriptions", `{"address":"`+a+`","subscriber_list_id":1,"skip_confirmation_email":true}`, nil)
	}
	if _, err := s.App.DB().Exec(`UPDATE subscribers SET govuk_account_id = 'urn:fdc:gov.uk:2022:bob' WHERE address = 'bob@example.com'`); err != nil {
		t.Fatal(err)
	}
	normalise := regexp.MustCompile(`\S+@example\.com`)
	var pages []string
	for _, address := range []string{"ann@example.com", "bob@example.com", "nobody@example.com"} {
		p := s.Post("/email/manage/authenticate", url.Values{"address": {address}}, nil)
		if p.Status != 200 {
			t.Errorf("%s: status %d", address, p.Status)
		}
		pages = append(pages, normalise.ReplaceAllString(p.Body, "ADDRESS"))
	}
	if pages[0] != pages[1] || pages[1] != pages[2] {
		t.Errorf("the pages differ between known, linked and unknown addresses")
	}
	if kind, _ := s.LastEmail("ann@example.com"); kind != "sign_in" {
		t.Errorf("ann got %q, want sign_in", kind)
	}
	if kind, link := s.LastEmail("bob@example.com"); kind != "use_one_login" || strings.Contains(link, "token") {
		t.Errorf("bob got %q with link %q, want use_one_login without a token", kind, link)
	}
	if kind, _ := s.LastEmail("nobody@example.com"); kind != "" {
		t.Errorf("an unknown address got %q", kind)
	}
}

func TestSignInFormErrors(t *testing.T) {
	s := testrig.NewSite(t)
	for _, tt := range []struct{ address, want string }{
		{"", "Enter your email address"},
		{"ann", "Enter an email address in the correct format"},
		{"<script>alert(1)</script>@x.com", "Enter an email address in the correct format"},
	} {
		p := s.Post("/email/manage/authenticate", url.Values{"address": {tt.address}}, nil)
		if p.Status != http.StatusUnprocessableEntity {
			t.Errorf("%q: status %d, want 422", tt.address, p.Status)
		}
		testrig.MustContain(t, p, tt.want, "There is a problem")
		if strings.Contains(p.Body, "<script>alert") {
			t.Errorf("%q is echoed unescaped", tt.address)
		}
	}
	if n := s.EmailCount(); n != 0 {
		t.Errorf("%d emails written for invalid addresses", n)
	}
}

func TestCrossSitePostIsRefused(t *testing.T) {
	s := testrig.NewSite(t)
	for _, h := range []http.Header{
		{"Origin": {"https://evil.example"}},
		{"Sec-Fetch-Site": {"cross-site"}},
	} {
		p := s.Post("/email/manage/authenticate", url.Values{"address": {"ann@example.com"}}, h)
		if p.Status != http.StatusForbidden {
			t.Errorf("POST with %v: %d, want 403", h, p.Status)
		}
	}
	same := s.Post("/email/manage/authenticate", url.Values{"address": {"ann@example.com"}},
		http.Header{"Origin": {s.Server.URL}, "Sec-Fetch-Site": {"same-origin"}})
	if same.Status != 200 {
		t.Errorf("same-origin POST: %d, want 200", same.Status)
	}
}

func TestSignInRateLimit(t *testing.T) {
	s := testrig.NewSite(t)
	var last testrig.Page
	for i := range 5 { // RATE_LIMIT_PER_ADDRESS defaults to 4/minute
		last = s.Post("/email/manage/authenticate", url.Values{"address": {fmt.Sprintf("ANN@example.com%s", strings.Repeat(" ", i))}}, nil)
	}
	if last.Status != http.StatusTooManyRequests || last.Header.Get("Retry-After") == "" {
		t.Fatalf("5th request for one address: %d (Retry-After %q), want 429", last.Status, last.Header.Get("Retry-After"))
	}
	testrig.MustContain(t, last, "You have asked for too many emails to this address", "To protect your email address")
	if p := s.Post("/email/manage/authenticate", url.Values{"address": {"other@example.com"}}, nil); p.Status != 200 {
		t.Errorf("another address: %d, want 200", p.Status)
	}
}

func TestSubscribeByConfirmationJourney(t *testing.T) {
	s := testrig.NewSite(t)
	s.API.MustDo(t, "POST", "/subscriber-lists", `{"title":"Travel advice: France","slug":"france"}`, nil)

	p := s.Get("/email/subscriptions/verify?topic_id=france&frequency=weekly")
	testrig.MustContain(t, p, "What’s your email address?", "Travel advice: France")
	p = s.Post("/email/subscriptions/verify", url.Values{"topic_id": {"france"}, "frequency": {"weekly"}, "address": {"carol@example.com"}}, nil)
	testrig.MustContain(t, p, "Check your email", "carol@example.com")
	var rows int
	if err := s.App.DB().Get(&rows, `SELECT count(*) FROM subscriptions`); err != nil || rows != 0 {
		t.Fatalf("%d subscriptions before the link was clicked, want 0", rows)
	}

	kind, link := s.LastEmail("carol@example.com")
	if kind != "confirm_subscription" {
		t.Fatalf("email %q, want confirm_subscription", kind)
	}
	p = s.Get(link)
	if p.URL.Path != "/email/manage" || p.Status != 200 {
		t.Fatalf("confirmation link ended at %s (%d), want /email/manage", p.URL, p.Status)
	}
	testrig.MustContain(t, p, "You’ve subscribed to Travel advice: France", "Subscriptions for carol@example.com", "once a week")
	if kind, _ := s.LastEmail("carol@example.com"); kind != "subscribed" {
		t.Errorf("last email %q, want the subscribed email", kind)
	}

	if p := s.Get("/email/subscriptions/verify?topic_id=nope&frequency=weekly"); p.Status != 404 {
		t.Errorf("unknown topic: %d, want 404", p.Status)
	}
	tampered := strings.Replace(link, "frequency=weekly", "frequency=daily", 1)
	if p := s.Get(tampered); p.Status != http.StatusGone {
		t.Errorf("link with its frequency changed: %d, want 410", p.Status)
	}
}

// TestConfirmationLinkSignsInOnce: the first click of a confirmation link
// subscribes and signs in; later clicks open no session, say so, and after
// "unsubscribe from everything" do not subscribe again.
func TestConfirmationLinkSignsInOnce(t *testing.T) {
	s := testrig.NewSite(t)
	s.API.MustDo(t, "POST", "/subscriber-lists", `{"title":"Travel advice: France","slug":"france"}`, nil)
	s.Post("/email/subscriptions/verify", url.Values{"topic_id": {"france"}, "frequency": {"weekly"}, "address": {"carol@example.com"}}, nil)
	_, link := s.LastEmail("carol@example.com")
	count := func(query string) int {
		var n int
		if err := s.App.DB().Get(&n, query); err != nil {
			t.Fatal(err)
		}
		return n
	}
	opensSession := func(resp *http.Response) bool {
		for _, c := range resp.Cookies() {
			if c.Name == frontend.SessionCookie && c.Value != "" {
				return true
			}
		}
		return resp.Header.Get("GOVUK-Account-Session") != ""
	}

	if p := s.Get(link); p.URL.Path != "/email/manage" {
		t.Fatalf("first click ended at %s (%d), want /email/manage", p.URL, p.Status)
	}
	if n := count(`SELECT count(*) FROM sessions`); n != 1 {
		t.Fatalf("%d sessions after the first click, want 1", n)
	}

	second := s.Click(link)
	body, _ := io.ReadAll(second.Body)
	if second.StatusCode != 200 || opensSession(second) || !strings.Contains(string(body), "You’re already subscribed to Travel advice: France") ||
		!strings.Contains(string(body), "has not signed you in") {
		t.Errorf("second click: %d, session opened %v:\n%s", second.StatusCode, opensSession(second), body)
	}
	if n := count(`SELECT count(*) FROM sessions`); n != 1 {
		t.Errorf("%d sessions after the second click, want 1", n)
	}

	p := s.Post("/email/manage/unsubscribe-all", url.Values{}, nil)
	testrig.MustContain(t, p, "You’ve unsubscribed from all GOV.UK emails")
	third := s.Click(link)
	body, _ = io.ReadAll(third.Body)
	if third.StatusCode != http.StatusGone || opensSession(third) || !strings.Contains(string(body), "This link has already been used") ||
		!strings.Contains(string(body), "/email/subscriptions/new?topic_id=france") {
		t.Errorf("third click: %d, session opened %v:\n%s", third.StatusCode, opensSession(third), body)
	}
	if n := count(`SELECT count(*) FROM subscriptions WHERE ended_at IS NULL`); n != 0 {
		t.Errorf("the third click subscribed again (%d active)", n)
	}
	if n := count(`SELECT count(*) FROM sessions`); n != 1 {
		t.Errorf("%d sessions after the third click, want 1", n)
	}
}

// TestDevOutbox: a local setup that only logs emails shows them at
// /dev/outbox.
func TestDevOutbox(t *testing.T) {
	s := testrig.NewSite(t)
	s.API.MustDo(t, "POST", "/subscriber-lists", `{"title":"Tax news"}`, nil)
	s.API.MustDo(t, "POST", "/subscriptions", `{"address":"ann@example.com","subscriber_list_id":1}`, nil)
	p := s.Get("/dev/outbox")
	testrig.MustContain(t, p, "Development outbox", "You’ve subscribed to: Tax news", "ann@example.com")

	// Outside a local setup there is no outbox: internal/app's
	// TestDevOutboxOnlyOnALocalSetup, which needs the app's own settings.
}

// TestHeaderSignOutLink: the layout shows "Sign out" only for a session
// that is valid now: not for a cookie or header that names no session, nor
// for GOVUK-Account-Session-Exists alone. A dead cookie is cleared.
func TestHeaderSignOutLink(t *testing.T) {
	s := testrig.NewSite(t)
	get := func(header http.Header) testrig.Page {
		req, _ := http.NewRequest(http.MethodGet, s.Server.URL+"/email/manage/authenticate", nil)
		for k, v := range header {
			req.Header[k] = v
		}
		return s.Do(req)
	}
	dead := strings.Repeat("A", 43)
	for name, h := range map[string]http.Header{
		"nothing":                         nil,
		"GOVUK-Account-Session-Exists":    {"Govuk-Account-Session-Exists": {"1"}},
		"a header naming no session":      {"Govuk-Account-Session": {dead}},
		"a cookie naming no session":      {"Cookie": {frontend.SessionCookie + "=" + dead}},
		"a malformed cookie":              {"Cookie": {frontend.SessionCookie + "=x"}},
		"a header with flash, no session": {"Govuk-Account-Session": {dead + "$$flash"}},
	} {
		p := get(h)
		if strings.Contains(p.Body, `href="/sign-out"`) {
			t.Errorf("%s: sign-out link shown", name)
		}
		if h != nil && name != "GOVUK-Account-Session-Exists" {
			if c := p.Header.Get("Set-Cookie"); !strings.Contains(c, frontend.SessionCookie+"=;") || !strings.Contains(c, "Max-Age=0") {
				t.Errorf("%s: Set-Cookie %q, want the dead session cookie cleared", name, c)
			}
			if p.Header.Get("GOVUK-Account-End-Session") != "1" {
				t.Errorf("%s: no GOVUK-Account-End-Session", name)
			}
		}
	}
	s.SignedIn(t)
	if p := get(nil); !strings.Contains(p.Body, `href="/sign-out"`) || strings.Contains(p.Header.Get("Set-Cookie"), frontend.SessionCookie) {
		t.Errorf("signed in: no sign-out link, or the session cookie touched (%q)", p.Header.Get("Set-Cookie"))
	}
}

var subscriptionLink = regexp.MustCompile(`/email/manage/frequency/([0-9a-f-]{36})`)

func TestManageJourneys(t *testing.T) {
	s := testrig.NewSite(t)
	s.SignedIn(t)
	p := s.Get("/email/manage")
	testrig.MustContain(t, p, "Tax news", "Travel", "Unsubscribe from everything", "Change email address")
	for _, h := range []string{"Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options"} {
		if p.Header.Get(h) == "" {
			t.Errorf("page without %s", h)
		}
	}
	if csp := p.Header.Get("Content-Security-Policy"); strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	ids := subscriptionLink.FindAllStringSubmatch(p.Body, -1)
	if len(ids) != 2 {
		t.Fatalf("%d subscriptions listed, want 2", len(ids))
	}
	first := ids[0][1]

	// Change frequency: a form with the current choice, an error without one.
	p = s.Get("/email/manage/frequency/" + first)
	testrig.MustContain(t, p, "How often do you want to get emails about Tax news?", `value="daily" checked`)
	if p := s.Post("/email/manage/frequency/"+first, url.Values{}, nil); p.Status != 422 {
		t.Errorf("no frequency chosen: %d, want 422", p.Status)
	}
	p = s.Post("/email/manage/frequency/"+first, url.Values{"frequency": {"weekly"}}, nil)
	testrig.MustContain(t, p, "You’ve changed how often you get emails about Tax news", "once a week")

	// Unsubscribe from one, with a confirmation first.
	p = s.Get("/email/manage")
	second := subscriptionLink.FindAllStringSubmatch(p.Body, -1)[1][1]
	testrig.MustContain(t, s.Get("/email/unsubscribe/"+second), "Are you sure you want to unsubscribe from Travel?")
	p = s.Post("/email/unsubscribe/"+second, url.Values{}, nil)
	testrig.MustContain(t, p, "You’ve unsubscribed from Travel")
	if strings.Contains(p.Body, "/email/manage/frequency/"+second) {
		t.Errorf("Travel is still listed after unsubscribing")
	}

	// Another subscriber's subscription is not found.
	var other struct {
		Subscription struct{ ID string } `json:"subscription"`
	}
	s.API.MustDo(t, "POST", "/subscriptions", `{"address":"bob@example.com","subscriber_list_id":1}`, &other)
	for _, path := range []string{"/email/manage/frequency/" + other.Subscription.ID, "/email/unsubscribe/" + other.Subscription.ID} {
		if p := s.Get(path); p.Status != 404 {
			t.Errorf("%s (bob's) for ann: %d, want 404", path, p.Status)
		}
	}
	if p := s.Post("/email/unsubscribe/"+other.Subscription.ID, url.Values{}, nil); p.Status != 404 {
		t.Errorf("POST unsubscribe of bob's for ann: %d, want 404", p.Status)
	}

	// Unsubscribe from everything, with a confirmation first.
	testrig.MustContain(t, s.Get("/email/manage/unsubscribe-all"), "Are you sure you want to unsubscribe from everything?")
	p = s.Post("/email/manage/unsubscribe-all", url.Values{}, nil)
	testrig.MustContain(t, p, "You’ve unsubscribed from all GOV.UK emails", "You’re not subscribed to any GOV.UK emails")
}

func TestUnsubscribeFromEmailedLink(t *testing.T) {
	s := testrig.NewSite(t)
	s.API.MustDo(t, "POST", "/subscriber-lists", `{"title":"Tax news"}`, nil)
	s.API.MustDo(t, "POST", "/subscriptions", `{"address":"ann@example.com","subscriber_list_id":1}`, nil)
	var body string
	if err := s.App.DB().Get(&body, `SELECT body FROM emails WHERE kind = 'subscribed'`); err != nil {
		t.Fatal(err)
	}
	link := regexp.MustCompile(`http://localhost:3000(/email/unsubscribe/\S+)`).FindStringSubmatch(body)
	if link == nil {
		t.Fatalf("no unsubscribe link in %q", body)
	}
	p := s.Get(link[1]) // no session: the token is enough
	testrig.MustContain(t, p, "Are you sure you want to unsubscribe from Tax news?")
	if p.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("token page Referrer-Policy %q", p.Header.Get("Referrer-Policy"))
	}
	u, _ := url.Parse(link[1])
	form := url.Values{"token": {u.Query().Get("token")}}
	testrig.MustContain(t, s.Post(u.Path, form, nil), "You’ve unsubscribed", "from Tax news")
	var active int
	if err := s.App.DB().Get(&active, `SELECT count(*) FROM subscriptions WHERE ended_at IS NULL`); err != nil || active != 0 {
		t.Errorf("%d active subscriptions after unsubscribing, want 0", active)
	}
	form.Set("token", strings.Repeat("A", 43))
	if p := s.Post(u.Path, form, nil); p.Status != 410 {
		t.Errorf("forged unsubscribe token: %d, want 410", p.Status)
	}
}

// unsubscribeLink returns the path (with its token) of the unsubscribe
// link in the first "You've subscribed" email to ann.
func unsubscribeLink(t *testing.T, s *testrig.Site) *url.URL {
	t.Helper()
	var body string
	if err := s.App.DB().Get(&body, `SELECT body FROM emails WHERE kind = 'subscribed' AND address = 'ann@example.com' ORDER BY created_at LIMIT 1`); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`http://localhost:3000(/email/unsubscribe/\S+)`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no unsubscribe link in %q", body)
	}
	u, _ := url.Parse(m[1])
	return u
}

// activeSubscriptions returns the ids of the active subscriptions.
func activeSubscriptions(t *testing.T, s *testrig.Site) []string {
	t.Helper()
	var ids []string
	if err := s.App.DB().Select(&ids, `SELECT id FROM subscriptions WHERE ended_at IS NULL ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestUnsubscribeLinkFollowsFrequencyChanges: the link in the "You've
// subscribed" email ends the subscription that is active when it is
// followed, whichever way the frequency was changed since, and then says
// there is nothing left to unsubscribe from.
func TestUnsubscribeLinkFollowsFrequencyChanges(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, s *testrig.Site, id string)
	}{
		{"PATCH /subscriptions/:id", func(t *testing.T, s *testrig.Site, id string) {
			s.API.MustDo(t, "PATCH", "/subscriptions/"+id, `{"frequency":"weekly"}`, nil)
		}},
		{"POST /subscriptions at another frequency", func(t *testing.T, s *testrig.Site, _ string) {
			s.API.MustDo(t, "POST", "/subscriptions", `{"address":"ann@example.com","subscriber_list_id":1,"frequency":"weekly"}`, nil)
		}},
		{"the manage page", func(t *testing.T, s *testrig.Site, id string) {
			s.Post("/email/manage/authenticate", url.Values{"address": {"ann@example.com"}}, nil)
			_, link := s.LastEmail("ann@example.com")
			s.Get(link)
			p := s.Post("/email/manage/frequency/"+id, url.Values{"frequency": {"weekly"}}, nil)
			testrig.MustContain(t, p, "You’ve changed how often you get emails about Tax news")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := testrig.NewSite(t)
			s.API.MustDo(t, "POST", "/subscriber-lists", `{"title":"Tax news"}`, nil)
			var created struct {
				Subscription struct{ ID string } `json:"subscription"`
			}
			s.API.MustDo(t, "POST", "/subscriptions", `{"address":"ann@example.com","subscriber_list_id":1,"frequency":"daily"}`, &created)
			link := unsubscribeLink(t, s)
			tc.change(t, s, created.Subscription.ID)
			active := activeSubscriptions(t, s)
			if len(active) != 1 || active[0] == created.Subscription.ID {
				t.Fatalf("active after the change: %v, want one new subscription", active)
			}

			s.Client.Jar, _ = cookiejar.New(nil) // the link needs no session
			testrig.MustContain(t, s.Get(link.String()), "Are you sure you want to unsubscribe from Tax news?")
			form := url.Values{"token": {link.Query().Get("token")}}
			testrig.MustContain(t, s.Post(link.Path, form, nil), "You’ve unsubscribed", "from Tax news")
			if left := activeSubscriptions(t, s); len(left) != 0 {
				t.Errorf("active after following the old link: %v, want none", left)
			}
			var reason string
			if err := s.App.DB().Get(&reason, `SELECT ended_reason FROM subscriptions WHERE id = $1`, active[0]); err != nil || reason != "unsubscribed" {
				t.Errorf("the active subscription ended %q, %v; want unsubscribed", reason, err)
			}

			for _, p := range []testrig.Page{s.Get(link.String()), s.Post(link.Path, form, nil)} {
				testrig.MustContain(t, p, "You’re not subscribed to Tax news")
				if p.Status != 200 || strings.Contains(p.Body, "You’ve unsubscribed") || strings.Contains(p.Body, "Are you sure") {
					t.Errorf("%s again (%d) claims or offers an unsubscription:\n%s", link.Path, p.Status, p.Body)
				}
			}
		})
	}
}

// TestUnsubscribeLinkWhenNothingIsActive: after unsubscribing from
// everything, the old email's link says the person is not subscribed, and
// never that it unsubscribed them.
func TestUnsubscribeLinkWhenNothingIsActive(t *testing.T) {
	s := testrig.NewSite(t)
	s.API.MustDo(t, "POST", "/subscriber-lists", `{"title":"Tax news"}`, nil)
	var created struct {
		Subscription struct {
			Subscriber struct{ ID int64 } `json:"subscriber"`
		} `json:"subscription"`
	}
	s.API.MustDo(t, "POST", "/subscriptions", `{"address":"ann@example.com","subscriber_list_id":1}`, &created)
	link := unsubscribeLink(t, s)
	if w := s.API.Do("DELETE", fmt.Sprintf("/subscribers/%d", created.Subscription.Subscriber.ID), "", nil); w.Code != 204 {
		t.Fatalf("unsubscribe from everything: %d", w.Code)
	}
	get := s.Get(link.String())
	post := s.Post(link.Path, url.Values{"token": {link.Query().Get("token")}}, nil)
	for _, p := range []testrig.Page{get, post} {
		testrig.MustContain(t, p, "You’re not subscribed to Tax news", "nothing to unsubscribe from")
		if strings.Contains(p.Body, "You’ve unsubscribed") || strings.Contains(p.Body, "Are you sure") {
			t.Errorf("%s (%d) claims or offers an unsubscription:\n%s", p.URL.Path, p.Status, p.Body)
		}
	}
}

func TestChangeAddressNeedsTheNewAddressConfirmed(t *testing.T) {
	s := testrig.NewSite(t)
	s.SignedIn(t)
	p := s.Post("/email/manage/address", url.Values{"address": {"ann@new.example.com"}}, nil)
	testrig.MustContain(t, p, "Check your email", "ann@new.example.com")
	var n int
	if err := s.App.DB().Get(&n, `SELECT count(*) FROM subscribers WHERE address = 'ann@new.example.com'`); err != nil || n != 0 {
		t.Fatalf("the address changed before it was confirmed")
	}
	kind, link := s.LastEmail("ann@new.example.com")
	if kind != "confirm_address" {
		t.Fatalf("email to the new address: %q", kind)
	}
	p = s.Get(link)
	testrig.MustContain(t, p, "Your email address has been changed", "Subscriptions for ann@new.example.com")
	if p := s.Get(link); p.Status != 410 {
		t.Errorf("second use of the link: %d, want 410", p.Status)
	}
	if p := s.Post("/email/manage/address", url.Values{"address": {"nope"}}, nil); p.Status != 422 {
		t.Errorf("invalid new address: %d, want 422", p.Status)
	}
}

// TestChangeAddressOntoLinkedSubscriberIsRefused: a magic-link user cannot
// move their emails onto an address a linked subscriber holds. Nothing is
// sent to that address (so its owner is never asked to click a link that
// would empty their account), and a link sent before the address was
// linked no longer takes it.
func TestChangeAddressOntoLinkedSubscriberIsRefused(t *testing.T) {
	s := testrig.NewSite(t)
	s.SignedIn(t)
	s.API.MustDo(t, "POST", "/subscriptions", `{"address":"bob@example.com","subscriber_list_id":1,"frequency":"weekly"}`, nil)
	link := func(address string) {
		if _, err := s.App.DB().Exec(`UPDATE subscribers SET govuk_account_id = 'urn:test:' || address, linked_at = now() WHERE address = $1`, address); err != nil {
			t.Fatal(err)
		}
	}
	link("bob@example.com")
	confirmations := func(address string) int {
		var n int
		if err := s.App.DB().Get(&n, `SELECT count(*) FROM emails WHERE lower(address) = lower($1) AND kind = 'confirm_address'`, address); err != nil {
			t.Fatal(err)
		}
		return n
	}

	p := s.Post("/email/manage/address", url.Values{"address": {"Bob@example.com"}}, nil)
	if p.Status != http.StatusUnprocessableEntity {
		t.Errorf("change onto a linked address: %d, want 422", p.Status)
	}
	testrig.MustContain(t, p, "That email address is managed through GOV.UK One Login", "govuk-error-summary")
	if n := confirmations("bob@example.com"); n != 0 {
		t.Errorf("%d confirmation emails queued for the linked address, want none", n)
	}

	// A link sent while the address was not linked.
	s.API.MustDo(t, "POST", "/subscriptions", `{"address":"cat@example.com","subscriber_list_id":1,"frequency":"daily"}`, nil)
	s.Post("/email/manage/address", url.Values{"address": {"cat@example.com"}}, nil)
	kind, confirm := s.LastEmail("cat@example.com")
	if kind != "confirm_address" {
		t.Fatalf("email to an unlinked address: %q, want confirm_address", kind)
	}
	link("cat@example.com")
	p = s.Get(confirm)
	if p.Status != http.StatusUnprocessableEntity {
		t.Errorf("confirming onto an address linked since: %d, want 422", p.Status)
	}
	testrig.MustContain(t, p, "managed through GOV.UK One Login")
	var held int
	if err := s.App.DB().Get(&held, `SELECT count(*) FROM subscribers WHERE address IN ('bob@example.com', 'cat@example.com') AND govuk_account_id IS NOT NULL`); err != nil || held != 2 {
		t.Errorf("linked subscribers holding their addresses: %d (%v), want 2", held, err)
	}
}

func TestSubscribeStartsWithFrequency(t *testing.T) {
	s := testrig.NewSite(t)
	s.API.MustDo(t, "POST", "/subscriber-lists", `{"title":"Travel advice: France","slug":"france","url":"/foreign-travel-advice/france"}`, nil)
	p := s.Get("/email/subscriptions/new?topic_id=france")
	testrig.MustContain(t, p, "How often do you want to get emails about Travel advice: France?", "Once a week")
	if p := s.Post("/email/subscriptions/new", url.Values{"topic_id": {"france"}}, nil); p.Status != 422 {
		t.Errorf("no frequency: %d, want 422", p.Status)
	}
	p = s.Post("/email/subscriptions/new", url.Values{"topic_id": {"france"}, "frequency": {"daily"}}, nil)
	if p.URL.Path != "/email/subscriptions/verify" || p.URL.Query().Get("frequency") != "daily" {
		t.Errorf("without a linked account: ended at %s, want the address step", p.URL)
	}
	if p := s.Get("/email/subscriptions/new?topic_id=nope"); p.Status != 404 {
		t.Errorf("unknown topic: %d", p.Status)
	}
}
