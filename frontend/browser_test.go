package frontend_test

import (
	"email-alert/internal/testkit/testrig"
	_ "embed"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"email-alert/internal/dev/devoidc"
)

// TestBrowserJourneys walks every journey in headless Chromium: sign in by
// magic link, change frequency, unsubscribe from everything, subscribe with
// a confirmation email, sign in with One Login against dev-oidc and
// subscribe at once, subscribe as a new person with One Login from the
// address step (verified and unverified), a back-channel logout, the dev
// outbox, and the error pages. Every page passes axe-core with
// no serious or critical violation.
func TestBrowserJourneys(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Chromium")
	}
	s := testrig.NewAccountSite(t)
	s.API.MustDo(t, "POST", "/subscriber-lists", `{"title":"Tax news","slug":"tax","url":"/tax"}`, nil)
	s.API.MustDo(t, "POST", "/subscriber-lists", `{"title":"Travel advice: France","slug":"france"}`, nil)
	for _, list := range []string{"1", "2"} {
		s.API.MustDo(t, "POST", "/subscriptions", `{"address":"ann@example.com","subscriber_list_id":`+list+`,"frequency":"daily","skip_confirmation_email":true}`, nil)
	}
	b := testrig.NewBrowser(t, s)
	link := func(address string) string {
		t.Helper()
		var body string
		if err := s.App.DB().Get(&body, `SELECT body FROM emails WHERE address = $1 ORDER BY created_at DESC LIMIT 1`, address); err != nil {
			t.Fatalf("no email to %s: %v", address, err)
		}
		for _, field := range strings.Fields(body) {
			if strings.HasPrefix(field, s.Public+"/") {
				return field
			}
		}
		t.Fatalf("no link in %q", body)
		return ""
	}

	// Sign in by magic link.
	b.Visit("/email/manage")
	b.Check("sign-in", "Manage your GOV.UK email subscriptions")
	b.Click("button[type=submit]")
	b.Check("sign-in-error", "Manage your GOV.UK email subscriptions")
	b.Fill("#address", "ann@example.com")
	b.Click("button[type=submit]")
	b.Check("check-your-email", "Check your email")
	b.Visit(link("ann@example.com"))
	b.Check("manage", "Subscriptions for ann@example.com")

	// Change frequency.
	b.Click(`a[href^="/email/manage/frequency/"]`)
	b.Check("frequency", "How often do you want to get emails about")
	b.Click("#frequency-weekly")
	b.Click("button[type=submit]")
	b.Check("frequency-changed", "Subscriptions for ann@example.com")

	// Unsubscribe from everything, after a confirmation.
	b.Click(`a[href="/email/manage/unsubscribe-all"]`)
	b.Check("unsubscribe-all", "Are you sure you want to unsubscribe from everything?")
	b.Click("button[type=submit]")
	b.Check("unsubscribed-all", "Subscriptions for ann@example.com")
	var text string
	b.Run(chromedp.Text("main", &text))
	if !strings.Contains(text, "You’re not subscribed to any GOV.UK emails") {
		t.Errorf("after unsubscribing from everything the page says: %s", text)
	}

	// Subscribe: how often, the address, then the link in the email.
	b.Visit("/email/subscriptions/new?topic_id=tax")
	b.Check("subscribe-frequency", "How often do you want to get emails about Tax news?")
	b.Click("#frequency-daily")
	b.Click("button[type=submit]")
	b.Check("subscribe-address", "What’s your email address?")
	b.Fill("#address", "carol@example.com")
	b.Click("button[type=submit]")
	b.Check("subscribe-check-email", "Check your email")
	b.Visit(link("carol@example.com"))
	b.Check("subscribed", "Subscriptions for carol@example.com")

	// Sign out, then sign in with One Login (dev-oidc) and subscribe at once.
	b.Click(`a[href="/sign-out"]`)
	b.Check("signed-out", "You have signed out")
	b.Visit("/email/manage/authenticate/account")
	b.Fill("#email", "dan@example.com")
	b.Click("button[type=submit]")
	b.Check("account-manage", "Subscriptions for dan@example.com")
	b.Visit("/email/subscriptions/new?topic_id=france")
	b.Click("#frequency-weekly")
	b.Click("button[type=submit]")
	b.Check("account-subscribed", "Subscriptions for dan@example.com")
	b.Run(chromedp.Text("main", &text))
	if !strings.Contains(text, "You’ve subscribed to Travel advice: France") || !strings.Contains(text, "GOV.UK One Login") {
		t.Errorf("account manage page says: %s", text)
	}

	// A new person subscribes with One Login from the address step: back
	// at a page naming the list, then subscribed at once.
	b.Click(`a[href="/sign-out"]`)
	b.Check("signed-out-next-steps", "You have signed out")
	b.Run(chromedp.Text("main", &text))
	if !strings.Contains(text, "Sign in again") || !strings.Contains(text, "GOV.UK homepage") {
		t.Errorf("the signed-out page offers no next step: %s", text)
	}
	b.Visit("/email/subscriptions/new?topic_id=tax")
	b.Click("#frequency-weekly")
	b.Click("button[type=submit]")
	b.Check("subscribe-address-one-login", "What’s your email address?")
	b.Click(`form[action="/email/subscriptions/verify/account"] button`)
	b.Fill("#email", "erin@example.com")
	b.Click("button[type=submit]")
	b.Check("account-confirm", "Check your subscription")
	b.Run(chromedp.Text("main", &text))
	if !strings.Contains(text, "Tax news") || !strings.Contains(text, "Once a week") || !strings.Contains(text, "erin@example.com") {
		t.Errorf("the confirmation page says: %s", text)
	}
	b.Click(`form[action="/email/subscriptions/account"] button`)
	b.Check("account-confirm-subscribed", "Subscriptions for erin@example.com")
	b.Run(chromedp.Text("main", &text))
	if !strings.Contains(text, "You’ve subscribed to Tax news") || !strings.Contains(text, "Change it in your GOV.UK One Login") {
		t.Errorf("after subscribing with One Login the page says: %s", text)
	}
	var kinds []string
	if err := s.App.DB().Select(&kinds, `SELECT kind FROM emails WHERE address = 'erin@example.com'`); err != nil || strings.Join(kinds, ",") != "subscribed" {
		t.Errorf("emails to erin: %v (%v), want only the subscribed email", kinds, err)
	}

	// A back-channel logout ends the session: the header drops "Sign out".
	logout, err := s.Provider.LogoutToken(devoidc.Sub("erin@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := http.PostForm(s.Public+"/sign-in/backchannel-logout", url.Values{"logout_token": {logout}}); err != nil || resp.StatusCode != 200 {
		t.Fatalf("back-channel logout: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	b.Visit("/email/manage")
	b.Check("after-backchannel-logout", "Manage your GOV.UK email subscriptions")
	var signOut int
	b.Run(chromedp.Evaluate(`document.querySelectorAll('a[href="/sign-out"]').length`, &signOut))
	if signOut != 0 {
		t.Errorf("the header still shows Sign out after a back-channel logout")
	}

	// The same with an unverified account email: nothing is subscribed.
	b.Visit("/email/subscriptions/verify?topic_id=france&frequency=daily")
	b.Click(`form[action="/email/subscriptions/verify/account"] button`)
	b.Fill("#email", "fred@example.com")
	var verified bool
	b.Run(chromedp.Evaluate(`document.querySelector("#email_verified").checked`, &verified))
	if verified {
		b.Click("#email_verified")
	}
	b.Click("button[type=submit]")
	b.Check("account-unverified", "You need to confirm your email address")

	// The dev outbox, whose long links wrap.
	b.Visit("/dev/outbox")
	b.Check("dev-outbox", "Development outbox")
	var overflow bool
	b.Run(chromedp.Evaluate(`[...document.querySelectorAll(".dev-email__body")].some(e => e.scrollWidth > e.clientWidth)`, &overflow))
	if overflow {
		t.Errorf("an email in the dev outbox is wider than the page")
	}

	// Error pages.
	b.Visit("/email/manage/authenticate/process?token=expired")
	b.Check("expired-link", "This link has expired")
	b.Visit("/no-such-page")
	b.Check("not-found", "Page not found")
}
