package linking_test

import (
	"email-alert/internal/testkit/testrig"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// subscribeWithOneLogin walks the subscription journey from the address
// step's "Sign in with GOV.UK One Login instead" through dev-oidc as email,
// and returns the page One Login sends the person back to.
func subscribeWithOneLogin(s *testrig.AccountSite, topic, frequency, email string, verified bool) testrig.Page {
	s.T.Helper()
	p := s.Get("/email/subscriptions/verify?" + url.Values{"topic_id": {topic}, "frequency": {frequency}}.Encode())
	testrig.MustContain(s.T, p, `action="/email/subscriptions/verify/account"`, "Sign in with GOV.UK One Login instead")
	// Browsers apply form-action to the redirect that follows the post.
	if csp := p.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' "+strings.TrimSuffix(s.Issuer, "/")+";") {
		s.T.Errorf("the address step's Content-Security-Policy %q does not let its form lead to One Login", csp)
	}
	p = s.Post("/email/subscriptions/verify/account", url.Values{"topic_id": {topic}, "frequency": {frequency}}, nil)
	return s.Authorize(p, email, verified)
}

// activeSubscriptions lists address's active subscriptions as
// "slug:frequency:source".
func activeSubscriptions(s *testrig.AccountSite, address string) []string {
	s.T.Helper()
	var out []string
	err := s.App.DB().Select(&out, `
		SELECT l.slug || ':' || s.frequency || ':' || s.source FROM subscriptions s
		JOIN subscriber_lists l ON l.id = s.subscriber_list_id JOIN subscribers p ON p.id = s.subscriber_id
		WHERE p.address = $1 AND s.ended_at IS NULL ORDER BY l.slug`, address)
	if err != nil {
		s.T.Fatal(err)
	}
	return out
}

func emailKinds(s *testrig.AccountSite, address string) []string {
	s.T.Helper()
	var out []string
	if err := s.App.DB().Select(&out, `SELECT kind FROM emails WHERE address = $1 ORDER BY created_at`, address); err != nil {
		s.T.Fatal(err)
	}
	return out
}

// TestSubscribeWithOneLogin: a new person on the address step signs in with
// One Login instead, comes back to a page that names the list and
// frequency, and subscribes at once: the "You've subscribed" email, no
// confirmation email, and the manage page with a banner naming the list.
func TestSubscribeWithOneLogin(t *testing.T) {
	s := testrig.NewAccountSite(t)
	s.API.MustDo(t, "POST", "/subscriber-lists", `{"title":"Tax news","slug":"tax"}`, nil)

	p := subscribeWithOneLogin(s, "tax", "weekly", "hal@example.com", true)
	if p.Status != 200 || p.URL.Path != "/email/subscriptions/account/confirm" ||
		p.URL.Query().Get("topic_id") != "tax" || p.URL.Query().Get("frequency") != "weekly" {
		t.Fatalf("after One Login: %s (%d), want the confirmation page\n%s", p.URL, p.Status, p.Body)
	}
	testrig.MustContain(t, p, "Check your subscription", "Tax news", "Once a week", "hal@example.com",
		`action="/email/subscriptions/account"`, ">Subscribe</button>", `href="`+s.Issuer+`"`, `href="/sign-out"`)
	if got := activeSubscriptions(s, "hal@example.com"); len(got) != 0 {
		t.Fatalf("subscribed before the Subscribe button: %v", got)
	}

	p = s.Post("/email/subscriptions/account", url.Values{"topic_id": {"tax"}, "frequency": {"weekly"}}, nil)
	if p.Status != 200 || p.URL.Path != "/email/manage" {
		t.Fatalf("after Subscribe: %s (%d)", p.URL, p.Status)
	}
	testrig.MustContain(t, p, "You’ve subscribed to Tax news", "Subscriptions for hal@example.com", "once a week",
		"Change it in your GOV.UK One Login", `href="`+s.Issuer+`"`)
	if got := activeSubscriptions(s, "hal@example.com"); len(got) != 1 || got[0] != "tax:weekly:user_signed_up" {
		t.Errorf("subscriptions %v, want tax weekly", got)
	}
	if got := emailKinds(s, "hal@example.com"); strings.Join(got, ",") != "subscribed" {
		t.Errorf("emails %v, want only the subscribed email (no confirmation)", got)
	}

	// Already subscribed: the same again changes nothing and sends nothing.
	p = s.Post("/email/subscriptions/account", url.Values{"topic_id": {"tax"}, "frequency": {"weekly"}}, nil)
	testrig.MustContain(t, p, "You’re already subscribed to Tax news")
	if got := emailKinds(s, "hal@example.com"); len(got) != 1 {
		t.Errorf("emails %v after subscribing twice, want one", got)
	}
	// Signed in already, the confirmation page is one step away.
	p = s.Get("/email/subscriptions/account/confirm?topic_id=tax&frequency=daily")
	testrig.MustContain(t, p, "Check your subscription", "Once a day")
}

// TestSubscribeWithOneLoginChangesFrequency: a linked account already
// subscribed to the list at another frequency ends with one subscription,
// at the new frequency.
func TestSubscribeWithOneLoginChangesFrequency(t *testing.T) {
	s := testrig.NewAccountSite(t)
	s.API.MustDo(t, "POST", "/subscriber-lists", `{"title":"Tax news","slug":"tax"}`, nil)
	s.API.MustDo(t, "POST", "/subscriptions", `{"address":"ivy@example.com","subscriber_list_id":1,"frequency":"daily","skip_confirmation_email":true}`, nil)
	if p := s.SignIn("ivy@example.com", true, "/email/manage/authenticate/account"); p.URL.Path != "/email/manage" {
		t.Fatalf("sign-in ended at %s", p.URL)
	}
	if p := s.Get("/sign-out"); p.URL.Path != "/signed-out" {
		t.Fatalf("sign-out ended at %s", p.URL)
	}

	p := subscribeWithOneLogin(s, "tax", "weekly", "ivy@example.com", true)
	testrig.MustContain(t, p, "Check your subscription", "Once a week")
	p = s.Post("/email/subscriptions/account", url.Values{"topic_id": {"tax"}, "frequency": {"weekly"}}, nil)
	testrig.MustContain(t, p, "You’ve changed how often you get emails about Tax news", "once a week")
	if got := activeSubscriptions(s, "ivy@example.com"); len(got) != 1 || got[0] != "tax:weekly:frequency_changed" {
		t.Errorf("subscriptions %v, want one: tax weekly", got)
	}
	var ended string
	if err := s.App.DB().Get(&ended, `SELECT ended_reason FROM subscriptions WHERE frequency = 'daily'`); err != nil || ended != "frequency_changed" {
		t.Errorf("the daily subscription: ended %q (%v), want frequency_changed", ended, err)
	}
}

// TestSubscribeWithOneLoginUnverified: an account whose email is not
// verified is told to confirm it in One Login, and nothing is subscribed.
func TestSubscribeWithOneLoginUnverified(t *testing.T) {
	s := testrig.NewAccountSite(t)
	s.API.MustDo(t, "POST", "/subscriber-lists", `{"title":"Tax news","slug":"tax"}`, nil)
	p := subscribeWithOneLogin(s, "tax", "daily", "jo@example.com", false)
	if p.Status != http.StatusForbidden || p.URL.Path != "/email/subscriptions/account/confirm" {
		t.Errorf("unverified account: %s (%d), want 403", p.URL, p.Status)
	}
	testrig.MustContain(t, p, "You need to confirm your email address", "Confirm your email address in your GOV.UK One Login",
		"Tax news", `href="`+s.Issuer+`"`)
	if strings.Contains(p.Body, ">Subscribe</button>") {
		t.Errorf("the unverified page offers to subscribe")
	}
	p = s.Post("/email/subscriptions/account", url.Values{"topic_id": {"tax"}, "frequency": {"daily"}}, nil)
	if p.Status != http.StatusForbidden {
		t.Errorf("Subscribe with an unverified account: %d, want 403", p.Status)
	}
	var n int
	if err := s.App.DB().Get(&n, `SELECT (SELECT count(*) FROM subscribers) + (SELECT count(*) FROM subscriptions) + (SELECT count(*) FROM emails)`); err != nil || n != 0 {
		t.Errorf("an unverified account left %d subscribers, subscriptions and emails, want none", n)
	}
}

// TestSubscribeWithOneLoginChecksEveryStep: the topic and the frequency are
// checked again at every step: a tampered topic is a 404, a bad frequency
// goes back to the frequency question, and nothing is subscribed either way.
func TestSubscribeWithOneLoginChecksEveryStep(t *testing.T) {
	s := testrig.NewAccountSite(t)
	s.API.MustDo(t, "POST", "/subscriber-lists", `{"title":"Tax news","slug":"tax"}`, nil)
	steps := func(topic, frequency string) map[string]testrig.Page {
		form := url.Values{"topic_id": {topic}, "frequency": {frequency}}
		return map[string]testrig.Page{
			"start":   s.Post("/email/subscriptions/verify/account", form, nil),
			"confirm": s.Get("/email/subscriptions/account/confirm?" + form.Encode()),
			"account": s.Post("/email/subscriptions/account", form, nil),
		}
	}
	check := func(signedIn string) {
		t.Helper()
		for name, p := range steps("tax-but-tampered", "weekly") {
			if p.Status != http.StatusNotFound || !strings.Contains(p.Body, "Page not found") {
				t.Errorf("%s, %s, tampered topic: %s (%d), want the 404 page", signedIn, name, p.URL, p.Status)
			}
		}
		for _, bad := range []string{"", "hourly", "Weekly", "weekly\n"} {
			for name, p := range steps("tax", bad) {
				if p.Status != http.StatusUnprocessableEntity || !strings.Contains(p.Body, "How often do you want to get emails about Tax news?") ||
					!strings.Contains(p.Body, "Select how often you want to get emails") || !strings.Contains(p.Body, `action="/email/subscriptions/new"`) {
					t.Errorf("%s, %s, frequency %q: %s (%d), want the frequency question", signedIn, name, bad, p.URL, p.Status)
				}
			}
		}
	}
	check("not signed in")
	if p := s.SignIn("kim@example.com", true, "/email/manage/authenticate/account"); p.URL.Path != "/email/manage" {
		t.Fatalf("sign-in ended at %s", p.URL)
	}
	check("signed in")
	var n int
	if err := s.App.DB().Get(&n, `SELECT count(*) FROM subscriptions`); err != nil || n != 0 {
		t.Errorf("%d subscriptions made by tampered steps, want none", n)
	}
}

// TestSubscribeWithOneLoginNeedsAnAccountSession: the confirmation page
// and its button, reached without a One Login session (none, or a magic
// link's), send the person to One Login and back to the confirmation page.
func TestSubscribeWithOneLoginNeedsAnAccountSession(t *testing.T) {
	s := testrig.NewAccountSite(t)
	s.API.MustDo(t, "POST", "/subscriber-lists", `{"title":"Tax news","slug":"tax"}`, nil)
	confirm := "/email/subscriptions/account/confirm?frequency=daily&topic_id=tax"
	p := s.SignIn("lee@example.com", true, confirm)
	if p.URL.RequestURI() != confirm || !strings.Contains(p.Body, "Check your subscription") {
		t.Errorf("confirmation page without a session: landed on %s after sign-in, want %s", p.URL, confirm)
	}
	s.Get("/sign-out")

	p = s.Post("/email/subscriptions/account", url.Values{"topic_id": {"tax"}, "frequency": {"daily"}}, nil)
	p = s.Authorize(p, "lee@example.com", true)
	if p.URL.RequestURI() != confirm || !strings.Contains(p.Body, "Check your subscription") {
		t.Errorf("Subscribe without a session: landed on %s after sign-in, want %s", p.URL, confirm)
	}
	var n int
	if err := s.App.DB().Get(&n, `SELECT count(*) FROM subscriptions`); err != nil || n != 0 {
		t.Errorf("%d subscriptions without a session, want none", n)
	}
}

// TestSignInReturnsWhereYouWereGoing: a page that needs a session sends the
// person to sign in, and both ways of signing in (the emailed link and One
// Login) bring them back to that page; a path off this site never.
func TestSignInReturnsWhereYouWereGoing(t *testing.T) {
	s := testrig.NewAccountSite(t)
	s.API.MustDo(t, "POST", "/subscriber-lists", `{"title":"Tax news","slug":"tax"}`, nil)
	s.API.MustDo(t, "POST", "/subscriptions", `{"address":"max@example.com","subscriber_list_id":1,"frequency":"daily","skip_confirmation_email":true}`, nil)
	var id string
	if err := s.App.DB().Get(&id, `SELECT id FROM subscriptions`); err != nil {
		t.Fatal(err)
	}
	target := "/email/manage/frequency/" + id

	// By magic link.
	p := s.Get(target)
	if p.URL.Path != "/email/manage/authenticate" || p.URL.Query().Get("redirect_path") != target {
		t.Fatalf("%s without a session: %s, want the sign-in page returning there", target, p.URL)
	}
	testrig.MustContain(t, p, `name="redirect_path" value="`+target+`"`, "Sign in with GOV.UK One Login",
		`href="/email/manage/authenticate/account?redirect_path=`+url.QueryEscape(target)+`"`)
	if strings.Contains(p.Body, "linked") {
		t.Errorf("the sign-in page offers One Login only to people who linked:\n%s", p.Body)
	}
	p = s.Post("/email/manage/authenticate", url.Values{"address": {"max@example.com"}, "redirect_path": {target}}, nil)
	testrig.MustContain(t, p, "Check your email")
	_, link := s.EmailTo("max@example.com")
	if p := s.Get(link); p.URL.Path != target || !strings.Contains(p.Body, "How often do you want to get emails about Tax news?") {
		t.Errorf("the emailed link landed on %s, want %s", p.URL, target)
	}

	// By One Login, from the sign-in page's link.
	s.Get("/sign-out")
	p = s.Get(target)
	start := "/email/manage/authenticate/account?redirect_path=" + url.QueryEscape(p.URL.Query().Get("redirect_path"))
	if p := s.SignIn("max@example.com", true, start); p.URL.Path != target {
		t.Errorf("One Login landed on %s, want %s", p.URL, target)
	}

	// Never off this site, whichever way.
	s.Get("/sign-out")
	for _, bad := range []string{"//evil.example/", "https://evil.example/", "/\\evil.example"} {
		p := s.Get("/email/manage/authenticate?redirect_path=" + url.QueryEscape(bad))
		if strings.Contains(p.Body, "evil.example") {
			t.Errorf("redirect_path %q reached the sign-in page", bad)
		}
	}
	s.API.MustDo(t, "POST", "/subscriptions", `{"address":"nat@example.com","subscriber_list_id":1,"skip_confirmation_email":true}`, nil)
	s.Post("/email/manage/authenticate", url.Values{"address": {"nat@example.com"}, "redirect_path": {"//evil.example/"}}, nil)
	_, link = s.EmailTo("nat@example.com")
	if strings.Contains(link, "evil") {
		t.Errorf("an off-site redirect_path reached the email: %s", link)
	}
	if p := s.Get(link + "&redirect_path=" + url.QueryEscape("//evil.example/")); p.URL.Host != strings.TrimPrefix(s.Public, "http://") || p.URL.Path != "/email/manage" {
		t.Errorf("an off-site redirect_path added to the link landed on %s", p.URL)
	}
}
