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
	"email-alert/internal/lib/locale"
	"email-alert/templates"
)

// TestBrowserJourneys walks every journey in headless Chromium: sign in by
// magic link, change frequency, unsubscribe from everything, subscribe with
// a confirmation email, sign in with One Login against dev-oidc and
// subscribe at once, subscribe as a new person with One Login from the
// address step (verified and unverified), a back-channel logout, the dev
// outbox, and the error pages. Every page passes axe-core with
// no serious or critical violation.
//
// It walks them in English and in Welsh: in Welsh every page has <html
// lang="cy"> and none of the English catalogue's words (testrig's
// InLanguage), the One Login request asks for ui_locales=cy, and the
// emails in the dev outbox are Welsh too.
func TestBrowserJourneys(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Chromium")
	}
	c, err := locale.Parse(templates.Locales)
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range locale.Languages {
		t.Run(lang, func(t *testing.T) { browserJourneys(t, c, lang) })
	}
}

func browserJourneys(t *testing.T, c *locale.Catalogue, lang string) {
	T := func(key string, args ...any) string { return c.T(lang, key, args...) }
	s := testrig.NewAccountSite(t)
	s.API.MustDo(t, "POST", "/subscriber-lists", `{"title":"Tax news","slug":"tax","url":"/tax"}`, nil)
	s.API.MustDo(t, "POST", "/subscriber-lists", `{"title":"Travel advice: France","slug":"france"}`, nil)
	for _, list := range []string{"1", "2"} {
		s.API.MustDo(t, "POST", "/subscriptions", `{"address":"ann@example.com","subscriber_list_id":`+list+`,"frequency":"daily","skip_confirmation_email":true}`, nil)
	}
	b := testrig.NewBrowser(t, s)
	b.InLanguage(lang, c)
	// The header's language link sets the language for the rest of the
	// walk, and keeps the page's query.
	b.Visit("/email/subscriptions/new?topic_id=tax")
	if lang == locale.Welsh {
		var href, location string
		b.Run(chromedp.AttributeValue(`a[hreflang="cy"]`, "href", &href, nil))
		b.Run(chromedp.Evaluate(`document.querySelector('a[hreflang="cy"]').click()`, nil),
			chromedp.WaitVisible(`a[hreflang="en"]`), chromedp.Location(&location))
		if u, _ := url.Parse(location); u == nil || u.Query().Get("topic_id") != "tax" || u.Query().Get("lang") != "cy" {
			t.Errorf("the language link went to %s", location)
		}
	}
	b.Check("language", T("frequency.question", "Title", "Tax news"))
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
	b.Check("sign-in", T("common.manage_subscriptions"))
	b.Click("button[type=submit]")
	b.Check("sign-in-error", T("common.manage_subscriptions"))
	b.Fill("#address", "ann@example.com")
	b.Click("button[type=submit]")
	b.Check("check-your-email", T("common.check_your_email"))
	b.Visit(link("ann@example.com"))
	b.Check("manage", T("manage.heading", "Address", "ann@example.com"))

	// Change frequency.
	b.Click(`a[href^="/email/manage/frequency/"]`)
	b.Check("frequency", T("frequency.question", "Title", "Tax news"))
	b.Click("#frequency-weekly")
	b.Click("button[type=submit]")
	b.Check("frequency-changed", T("manage.heading", "Address", "ann@example.com"))

	// Unsubscribe from everything, after a confirmation.
	b.Click(`a[href="/email/manage/unsubscribe-all"]`)
	b.Check("unsubscribe-all", T("unsubscribe.all_heading"))
	b.Click("button[type=submit]")
	b.Check("unsubscribed-all", T("manage.heading", "Address", "ann@example.com"))
	var text string
	b.Run(chromedp.Text("main", &text))
	if !strings.Contains(text, T("manage.none")) {
		t.Errorf("after unsubscribing from everything the page says: %s", text)
	}

	// Subscribe: how often, the address, then the link in the email.
	b.Visit("/email/subscriptions/new?topic_id=tax")
	b.Check("subscribe-frequency", T("frequency.question", "Title", "Tax news"))
	b.Click("#frequency-daily")
	b.Click("button[type=submit]")
	b.Check("subscribe-address", T("verify.title"))
	b.Fill("#address", "carol@example.com")
	b.Click("button[type=submit]")
	b.Check("subscribe-check-email", T("common.check_your_email"))
	b.Visit(link("carol@example.com"))
	b.Check("subscribed", T("manage.heading", "Address", "carol@example.com"))

	// Sign out, then sign in with One Login (dev-oidc) and subscribe at once.
	b.Click(`a[href="/sign-out"]`)
	b.Check("signed-out", T("signed_out.title"))
	b.Visit("/email/manage/authenticate/account")
	var uiLocales string
	b.Run(chromedp.Evaluate(`document.querySelector('input[name="ui_locales"]').value`, &uiLocales))
	if uiLocales != lang {
		t.Errorf("One Login was asked for ui_locales %q, want %q", uiLocales, lang)
	}
	b.Fill("#email", "dan@example.com")
	b.Click("button[type=submit]")
	b.Check("account-manage", T("manage.heading", "Address", "dan@example.com"))
	b.Visit("/email/subscriptions/new?topic_id=france")
	b.Click("#frequency-weekly")
	b.Click("button[type=submit]")
	b.Check("account-subscribed", T("manage.heading", "Address", "dan@example.com"))
	b.Run(chromedp.Text("main", &text))
	if !strings.Contains(text, T("notice.subscribed", "Title", "Travel advice: France")) || !strings.Contains(text, "GOV.UK One Login") {
		t.Errorf("account manage page says: %s", text)
	}

	// A new person subscribes with One Login from the address step: back
	// at a page naming the list, then subscribed at once.
	b.Click(`a[href="/sign-out"]`)
	b.Check("signed-out-next-steps", T("signed_out.title"))
	b.Run(chromedp.Text("main", &text))
	if !strings.Contains(text, T("signed_out.sign_in_again")) || !strings.Contains(text, T("signed_out.homepage")) {
		t.Errorf("the signed-out page offers no next step: %s", text)
	}
	b.Visit("/email/subscriptions/new?topic_id=tax")
	b.Click("#frequency-weekly")
	b.Click("button[type=submit]")
	b.Check("subscribe-address-one-login", T("verify.title"))
	b.Click(`form[action="/email/subscriptions/verify/account"] button`)
	b.Fill("#email", "erin@example.com")
	b.Click("button[type=submit]")
	b.Check("account-confirm", T("confirm.heading"))
	b.Run(chromedp.Text("main", &text))
	if !strings.Contains(text, "Tax news") || !strings.Contains(text, T("frequency.label.weekly")) || !strings.Contains(text, "erin@example.com") {
		t.Errorf("the confirmation page says: %s", text)
	}
	b.Click(`form[action="/email/subscriptions/account"] button`)
	b.Check("account-confirm-subscribed", T("manage.heading", "Address", "erin@example.com"))
	b.Run(chromedp.Text("main", &text))
	if !strings.Contains(text, T("notice.subscribed", "Title", "Tax news")) || !strings.Contains(text, T("common.change_in_one_login")) {
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
	b.Check("after-backchannel-logout", T("common.manage_subscriptions"))
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
	b.Check("account-unverified", T("unverified.title"))

	// The dev outbox, whose long links wrap.
	b.Visit("/dev/outbox")
	b.Check("dev-outbox", T("outbox.title"))
	var overflow bool
	b.Run(chromedp.Evaluate(`[...document.querySelectorAll(".dev-email__body")].some(e => e.scrollWidth > e.clientWidth)`, &overflow))
	if overflow {
		t.Errorf("an email in the dev outbox is wider than the page")
	}

	// Error pages.
	b.Visit("/email/manage/authenticate/process?token=expired")
	b.Check("expired-link", T("expired.title"))
	b.Visit("/no-such-page")
	b.Check("not-found", T("error.not_found"))
}
