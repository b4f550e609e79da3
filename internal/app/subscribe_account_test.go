package app

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// subscribeWithOneLogin walks the subscription journey from the address
// step's "Sign in with GOV.UK One Login instead" through dev-oidc as email,
// and returns the page One Login sends the person back to.
func (s *accountSite) subscribeWithOneLogin(topic, frequency, email string, verified bool) page {
	s.t.Helper()
	p := s.get("/email/subscriptions/verify?" + url.Values{"topic_id": {topic}, "frequency": {frequency}}.Encode())
	mustContain(s.t, p, `action="/email/subscriptions/verify/account"`, "Sign in with GOV.UK One Login instead")
	// Browsers apply form-action to the redirect that follows the post.
	if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' "+strings.TrimSuffix(s.issuer, "/")+";") {
		s.t.Errorf("the address step's Content-Security-Policy %q does not let its form lead to One Login", csp)
	}
	p = s.post("/email/subscriptions/verify/account", url.Values{"topic_id": {topic}, "frequency": {frequency}}, nil)
	return s.authorize(p, email, verified)
}

// activeSubscriptions lists address's active subscriptions as
// "slug:frequency:source".
func (s *accountSite) activeSubscriptions(address string) []string {
	s.t.Helper()
	var out []string
	err := s.a.db.Select(&out, `
		SELECT l.slug || ':' || s.frequency || ':' || s.source FROM subscriptions s
		JOIN subscriber_lists l ON l.id = s.subscriber_list_id JOIN subscribers p ON p.id = s.subscriber_id
		WHERE p.address = $1 AND s.ended_at IS NULL ORDER BY l.slug`, address)
	if err != nil {
		s.t.Fatal(err)
	}
	return out
}

func (s *accountSite) emailKinds(address string) []string {
	s.t.Helper()
	var out []string
	if err := s.a.db.Select(&out, `SELECT kind FROM emails WHERE address = $1 ORDER BY created_at`, address); err != nil {
		s.t.Fatal(err)
	}
	return out
}

// TestSubscribeWithOneLogin: a new person on the address step signs in with
// One Login instead, comes back to a page that names the list and
// frequency, and subscribes at once: the "You've subscribed" email, no
// confirmation email, and the manage page with a banner naming the list.
func TestSubscribeWithOneLogin(t *testing.T) {
	s := newAccountSite(t)
	s.api.mustDo(t, "POST", "/subscriber-lists", `{"title":"Tax news","slug":"tax"}`, nil)

	p := s.subscribeWithOneLogin("tax", "weekly", "hal@example.com", true)
	if p.status != 200 || p.url.Path != "/email/subscriptions/account/confirm" ||
		p.url.Query().Get("topic_id") != "tax" || p.url.Query().Get("frequency") != "weekly" {
		t.Fatalf("after One Login: %s (%d), want the confirmation page\n%s", p.url, p.status, p.body)
	}
	mustContain(t, p, "Check your subscription", "Tax news", "Once a week", "hal@example.com",
		`action="/email/subscriptions/account"`, ">Subscribe</button>", `href="`+s.issuer+`"`, `href="/sign-out"`)
	if got := s.activeSubscriptions("hal@example.com"); len(got) != 0 {
		t.Fatalf("subscribed before the Subscribe button: %v", got)
	}

	p = s.post("/email/subscriptions/account", url.Values{"topic_id": {"tax"}, "frequency": {"weekly"}}, nil)
	if p.status != 200 || p.url.Path != "/email/manage" {
		t.Fatalf("after Subscribe: %s (%d)", p.url, p.status)
	}
	mustContain(t, p, "You’ve subscribed to Tax news", "Subscriptions for hal@example.com", "once a week",
		"Change it in your GOV.UK One Login", `href="`+s.issuer+`"`)
	if got := s.activeSubscriptions("hal@example.com"); len(got) != 1 || got[0] != "tax:weekly:user_signed_up" {
		t.Errorf("subscriptions %v, want tax weekly", got)
	}
	if got := s.emailKinds("hal@example.com"); strings.Join(got, ",") != "subscribed" {
		t.Errorf("emails %v, want only the subscribed email (no confirmation)", got)
	}

	// Already subscribed: the same again changes nothing and sends nothing.
	p = s.post("/email/subscriptions/account", url.Values{"topic_id": {"tax"}, "frequency": {"weekly"}}, nil)
	mustContain(t, p, "You’re already subscribed to Tax news")
	if got := s.emailKinds("hal@example.com"); len(got) != 1 {
		t.Errorf("emails %v after subscribing twice, want one", got)
	}
	// Signed in already, the confirmation page is one step away.
	p = s.get("/email/subscriptions/account/confirm?topic_id=tax&frequency=daily")
	mustContain(t, p, "Check your subscription", "Once a day")
}

// TestSubscribeWithOneLoginChangesFrequency: a linked account already
// subscribed to the list at another frequency ends with one subscription,
// at the new frequency.
func TestSubscribeWithOneLoginChangesFrequency(t *testing.T) {
	s := newAccountSite(t)
	s.api.mustDo(t, "POST", "/subscriber-lists", `{"title":"Tax news","slug":"tax"}`, nil)
	s.api.mustDo(t, "POST", "/subscriptions", `{"address":"ivy@example.com","subscriber_list_id":1,"frequency":"daily","skip_confirmation_email":true}`, nil)
	if p := s.signIn("ivy@example.com", true, "/email/manage/authenticate/account"); p.url.Path != "/email/manage" {
		t.Fatalf("sign-in ended at %s", p.url)
	}
	if p := s.get("/sign-out"); p.url.Path != "/signed-out" {
		t.Fatalf("sign-out ended at %s", p.url)
	}

	p := s.subscribeWithOneLogin("tax", "weekly", "ivy@example.com", true)
	mustContain(t, p, "Check your subscription", "Once a week")
	p = s.post("/email/subscriptions/account", url.Values{"topic_id": {"tax"}, "frequency": {"weekly"}}, nil)
	mustContain(t, p, "You’ve changed how often you get emails about Tax news", "once a week")
	if got := s.activeSubscriptions("ivy@example.com"); len(got) != 1 || got[0] != "tax:weekly:frequency_changed" {
		t.Errorf("subscriptions %v, want one: tax weekly", got)
	}
	var ended string
	if err := s.a.db.Get(&ended, `SELECT ended_reason FROM subscriptions WHERE frequency = 'daily'`); err != nil || ended != "frequency_changed" {
		t.Errorf("the daily subscription: ended %q (%v), want frequency_changed", ended, err)
	}
}

// TestSubscribeWithOneLoginUnverified: an account whose email is not
// verified is told to confirm it in One Login, and nothing is subscribed.
func TestSubscribeWithOneLoginUnverified(t *testing.T) {
	s := newAccountSite(t)
	s.api.mustDo(t, "POST", "/subscriber-lists", `{"title":"Tax news","slug":"tax"}`, nil)
	p := s.subscribeWithOneLogin("tax", "daily", "jo@example.com", false)
	if p.status != http.StatusForbidden || p.url.Path != "/email/subscriptions/account/confirm" {
		t.Errorf("unverified account: %s (%d), want 403", p.url, p.status)
	}
	mustContain(t, p, "You need to confirm your email address", "Confirm your email address in your GOV.UK One Login",
		"Tax news", `href="`+s.issuer+`"`)
	if strings.Contains(p.body, ">Subscribe</button>") {
		t.Errorf("the unverified page offers to subscribe")
	}
	p = s.post("/email/subscriptions/account", url.Values{"topic_id": {"tax"}, "frequency": {"daily"}}, nil)
	if p.status != http.StatusForbidden {
		t.Errorf("Subscribe with an unverified account: %d, want 403", p.status)
	}
	var n int
	if err := s.a.db.Get(&n, `SELECT (SELECT count(*) FROM subscribers) + (SELECT count(*) FROM subscriptions) + (SELECT count(*) FROM emails)`); err != nil || n != 0 {
		t.Errorf("an unverified account left %d subscribers, subscriptions and emails, want none", n)
	}
}

// TestSubscribeWithOneLoginChecksEveryStep: the topic and the frequency are
// checked again at every step: a tampered topic is a 404, a bad frequency
// goes back to the frequency question, and nothing is subscribed either way.
func TestSubscribeWithOneLoginChecksEveryStep(t *testing.T) {
	s := newAccountSite(t)
	s.api.mustDo(t, "POST", "/subscriber-lists", `{"title":"Tax news","slug":"tax"}`, nil)
	steps := func(topic, frequency string) map[string]page {
		form := url.Values{"topic_id": {topic}, "frequency": {frequency}}
		return map[string]page{
			"start":   s.post("/email/subscriptions/verify/account", form, nil),
			"confirm": s.get("/email/subscriptions/account/confirm?" + form.Encode()),
			"account": s.post("/email/subscriptions/account", form, nil),
		}
	}
	check := func(signedIn string) {
		t.Helper()
		for name, p := range steps("tax-but-tampered", "weekly") {
			if p.status != http.StatusNotFound || !strings.Contains(p.body, "Page not found") {
				t.Errorf("%s, %s, tampered topic: %s (%d), want the 404 page", signedIn, name, p.url, p.status)
			}
		}
		for _, bad := range []string{"", "hourly", "Weekly", "weekly\n"} {
			for name, p := range steps("tax", bad) {
				if p.status != http.StatusUnprocessableEntity || !strings.Contains(p.body, "How often do you want to get emails about Tax news?") ||
					!strings.Contains(p.body, "Select how often you want to get emails") || !strings.Contains(p.body, `action="/email/subscriptions/new"`) {
					t.Errorf("%s, %s, frequency %q: %s (%d), want the frequency question", signedIn, name, bad, p.url, p.status)
				}
			}
		}
	}
	check("not signed in")
	if p := s.signIn("kim@example.com", true, "/email/manage/authenticate/account"); p.url.Path != "/email/manage" {
		t.Fatalf("sign-in ended at %s", p.url)
	}
	check("signed in")
	var n int
	if err := s.a.db.Get(&n, `SELECT count(*) FROM subscriptions`); err != nil || n != 0 {
		t.Errorf("%d subscriptions made by tampered steps, want none", n)
	}
}

// TestSubscribeWithOneLoginNeedsAnAccountSession: the confirmation page
// and its button, reached without a One Login session (none, or a magic
// link's), send the person to One Login and back to the confirmation page.
func TestSubscribeWithOneLoginNeedsAnAccountSession(t *testing.T) {
	s := newAccountSite(t)
	s.api.mustDo(t, "POST", "/subscriber-lists", `{"title":"Tax news","slug":"tax"}`, nil)
	confirm := "/email/subscriptions/account/confirm?frequency=daily&topic_id=tax"
	p := s.signIn("lee@example.com", true, confirm)
	if p.url.RequestURI() != confirm || !strings.Contains(p.body, "Check your subscription") {
		t.Errorf("confirmation page without a session: landed on %s after sign-in, want %s", p.url, confirm)
	}
	s.get("/sign-out")

	p = s.post("/email/subscriptions/account", url.Values{"topic_id": {"tax"}, "frequency": {"daily"}}, nil)
	p = s.authorize(p, "lee@example.com", true)
	if p.url.RequestURI() != confirm || !strings.Contains(p.body, "Check your subscription") {
		t.Errorf("Subscribe without a session: landed on %s after sign-in, want %s", p.url, confirm)
	}
	var n int
	if err := s.a.db.Get(&n, `SELECT count(*) FROM subscriptions`); err != nil || n != 0 {
		t.Errorf("%d subscriptions without a session, want none", n)
	}
}

// TestSignInReturnsWhereYouWereGoing: a page that needs a session sends the
// person to sign in, and both ways of signing in (the emailed link and One
// Login) bring them back to that page; a path off this site never.
func TestSignInReturnsWhereYouWereGoing(t *testing.T) {
	s := newAccountSite(t)
	s.api.mustDo(t, "POST", "/subscriber-lists", `{"title":"Tax news","slug":"tax"}`, nil)
	s.api.mustDo(t, "POST", "/subscriptions", `{"address":"max@example.com","subscriber_list_id":1,"frequency":"daily","skip_confirmation_email":true}`, nil)
	var id string
	if err := s.a.db.Get(&id, `SELECT id FROM subscriptions`); err != nil {
		t.Fatal(err)
	}
	target := "/email/manage/frequency/" + id

	// By magic link.
	p := s.get(target)
	if p.url.Path != "/email/manage/authenticate" || p.url.Query().Get("redirect_path") != target {
		t.Fatalf("%s without a session: %s, want the sign-in page returning there", target, p.url)
	}
	mustContain(t, p, `name="redirect_path" value="`+target+`"`, "Sign in with GOV.UK One Login",
		`href="/email/manage/authenticate/account?redirect_path=`+url.QueryEscape(target)+`"`)
	if strings.Contains(p.body, "linked") {
		t.Errorf("the sign-in page offers One Login only to people who linked:\n%s", p.body)
	}
	p = s.post("/email/manage/authenticate", url.Values{"address": {"max@example.com"}, "redirect_path": {target}}, nil)
	mustContain(t, p, "Check your email")
	_, link := s.emailTo("max@example.com")
	if p := s.get(link); p.url.Path != target || !strings.Contains(p.body, "How often do you want to get emails about Tax news?") {
		t.Errorf("the emailed link landed on %s, want %s", p.url, target)
	}

	// By One Login, from the sign-in page's link.
	s.get("/sign-out")
	p = s.get(target)
	start := "/email/manage/authenticate/account?redirect_path=" + url.QueryEscape(p.url.Query().Get("redirect_path"))
	if p := s.signIn("max@example.com", true, start); p.url.Path != target {
		t.Errorf("One Login landed on %s, want %s", p.url, target)
	}

	// Never off this site, whichever way.
	s.get("/sign-out")
	for _, bad := range []string{"//evil.example/", "https://evil.example/", "/\\evil.example"} {
		p := s.get("/email/manage/authenticate?redirect_path=" + url.QueryEscape(bad))
		if strings.Contains(p.body, "evil.example") {
			t.Errorf("redirect_path %q reached the sign-in page", bad)
		}
	}
	s.api.mustDo(t, "POST", "/subscriptions", `{"address":"nat@example.com","subscriber_list_id":1,"skip_confirmation_email":true}`, nil)
	s.post("/email/manage/authenticate", url.Values{"address": {"nat@example.com"}, "redirect_path": {"//evil.example/"}}, nil)
	_, link = s.emailTo("nat@example.com")
	if strings.Contains(link, "evil") {
		t.Errorf("an off-site redirect_path reached the email: %s", link)
	}
	if p := s.get(link + "&redirect_path=" + url.QueryEscape("//evil.example/")); p.url.Host != strings.TrimPrefix(s.public, "http://") || p.url.Path != "/email/manage" {
		t.Errorf("an off-site redirect_path added to the link landed on %s", p.url)
	}
}
