package app

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"email-alert/internal/devoidc"
)

// axeSource is axe-core, injected into every page the browser test visits.
//
//go:embed testdata/axe-core/axe.min.js
var axeSource string

// browser drives one headless Chromium through the service as a person
// would, checking every page with axe-core and saving a screenshot of it
// under test-output/ (kept by CI as an artifact).
type browser struct {
	t    *testing.T
	ctx  context.Context
	site *accountSite
	shot int
}

func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	t.Fatal("Chromium is not installed: `make test` installs it (apt-get install chromium)")
	return ""
}

func newBrowser(t *testing.T, s *accountSite) *browser {
	t.Helper()
	// Not t.TempDir: Chromium's helper processes may still be writing to
	// the profile as the test ends, and that must not fail the test.
	profile, err := os.MkdirTemp("", "email-alert-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(profile) })
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.DisableGPU,
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1024, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	return &browser{t: t, ctx: ctx, site: s}
}

func (b *browser) run(actions ...chromedp.Action) {
	b.t.Helper()
	if err := chromedp.Run(b.ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

// visit opens path on the frontend (or a full URL).
func (b *browser) visit(path string) {
	b.t.Helper()
	if !strings.HasPrefix(path, "http") {
		path = b.site.public + path
	}
	b.run(chromedp.Navigate(path), chromedp.WaitReady("body"))
}

// check asserts the page's main heading, then runs axe-core on it and
// saves a screenshot named after the step.
func (b *browser) check(step, heading string) {
	b.t.Helper()
	var h1, location string
	b.run(chromedp.WaitReady("h1"), chromedp.Text("h1", &h1), chromedp.Location(&location))
	if !strings.Contains(h1, heading) {
		b.t.Fatalf("%s: %s has heading %q, want %q", step, location, h1, heading)
	}
	b.shot++
	var png []byte
	b.run(chromedp.FullScreenshot(&png, 100)) // 100: PNG
	dir := filepath.Join("..", "..", "test-output", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err == nil {
		_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("%02d-%s.png", b.shot, step)), png, 0o644)
	}
	b.axe(step, location)
}

type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []any `json:"target"`
	} `json:"nodes"`
}

// axe fails the test on serious or critical accessibility violations.
func (b *browser) axe(step, location string) {
	b.t.Helper()
	var violations []axeViolation
	run := `axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations)`
	b.run(
		chromedp.Evaluate(axeSource, nil),
		chromedp.Evaluate(run, &violations, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
			return p.WithAwaitPromise(true)
		}),
	)
	for _, v := range violations {
		if v.Impact == "serious" || v.Impact == "critical" {
			targets, _ := json.Marshal(v.Nodes)
			b.t.Errorf("%s (%s): accessibility: %s (%s): %s %s", step, location, v.ID, v.Impact, v.Help, targets)
		}
	}
}

func (b *browser) fill(selector, value string) {
	b.t.Helper()
	b.run(chromedp.WaitVisible(selector), chromedp.SetValue(selector, value), chromedp.SendKeys(selector, ""))
}

func (b *browser) click(selector string) {
	b.t.Helper()
	b.run(chromedp.Click(selector), chromedp.Sleep(150*time.Millisecond), chromedp.WaitReady("body"))
}

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
	s := newAccountSite(t)
	s.api.mustDo(t, "POST", "/subscriber-lists", `{"title":"Tax news","slug":"tax","url":"/tax"}`, nil)
	s.api.mustDo(t, "POST", "/subscriber-lists", `{"title":"Travel advice: France","slug":"france"}`, nil)
	for _, list := range []string{"1", "2"} {
		s.api.mustDo(t, "POST", "/subscriptions", `{"address":"ann@example.com","subscriber_list_id":`+list+`,"frequency":"daily","skip_confirmation_email":true}`, nil)
	}
	b := newBrowser(t, s)
	link := func(address string) string {
		t.Helper()
		var body string
		if err := s.a.db.Get(&body, `SELECT body FROM emails WHERE address = $1 ORDER BY created_at DESC LIMIT 1`, address); err != nil {
			t.Fatalf("no email to %s: %v", address, err)
		}
		for _, field := range strings.Fields(body) {
			if strings.HasPrefix(field, s.public+"/") {
				return field
			}
		}
		t.Fatalf("no link in %q", body)
		return ""
	}

	// Sign in by magic link.
	b.visit("/email/manage")
	b.check("sign-in", "Manage your GOV.UK email subscriptions")
	b.click("button[type=submit]")
	b.check("sign-in-error", "Manage your GOV.UK email subscriptions")
	b.fill("#address", "ann@example.com")
	b.click("button[type=submit]")
	b.check("check-your-email", "Check your email")
	b.visit(link("ann@example.com"))
	b.check("manage", "Subscriptions for ann@example.com")

	// Change frequency.
	b.click(`a[href^="/email/manage/frequency/"]`)
	b.check("frequency", "How often do you want to get emails about")
	b.click("#frequency-weekly")
	b.click("button[type=submit]")
	b.check("frequency-changed", "Subscriptions for ann@example.com")

	// Unsubscribe from everything, after a confirmation.
	b.click(`a[href="/email/manage/unsubscribe-all"]`)
	b.check("unsubscribe-all", "Are you sure you want to unsubscribe from everything?")
	b.click("button[type=submit]")
	b.check("unsubscribed-all", "Subscriptions for ann@example.com")
	var text string
	b.run(chromedp.Text("main", &text))
	if !strings.Contains(text, "You’re not subscribed to any GOV.UK emails") {
		t.Errorf("after unsubscribing from everything the page says: %s", text)
	}

	// Subscribe: how often, the address, then the link in the email.
	b.visit("/email/subscriptions/new?topic_id=tax")
	b.check("subscribe-frequency", "How often do you want to get emails about Tax news?")
	b.click("#frequency-daily")
	b.click("button[type=submit]")
	b.check("subscribe-address", "What’s your email address?")
	b.fill("#address", "carol@example.com")
	b.click("button[type=submit]")
	b.check("subscribe-check-email", "Check your email")
	b.visit(link("carol@example.com"))
	b.check("subscribed", "Subscriptions for carol@example.com")

	// Sign out, then sign in with One Login (dev-oidc) and subscribe at once.
	b.click(`a[href="/sign-out"]`)
	b.check("signed-out", "You have signed out")
	b.visit("/email/manage/authenticate/account")
	b.fill("#email", "dan@example.com")
	b.click("button[type=submit]")
	b.check("account-manage", "Subscriptions for dan@example.com")
	b.visit("/email/subscriptions/new?topic_id=france")
	b.click("#frequency-weekly")
	b.click("button[type=submit]")
	b.check("account-subscribed", "Subscriptions for dan@example.com")
	b.run(chromedp.Text("main", &text))
	if !strings.Contains(text, "You’ve subscribed to Travel advice: France") || !strings.Contains(text, "GOV.UK One Login") {
		t.Errorf("account manage page says: %s", text)
	}

	// A new person subscribes with One Login from the address step: back
	// at a page naming the list, then subscribed at once.
	b.click(`a[href="/sign-out"]`)
	b.check("signed-out-next-steps", "You have signed out")
	b.run(chromedp.Text("main", &text))
	if !strings.Contains(text, "Sign in again") || !strings.Contains(text, "GOV.UK homepage") {
		t.Errorf("the signed-out page offers no next step: %s", text)
	}
	b.visit("/email/subscriptions/new?topic_id=tax")
	b.click("#frequency-weekly")
	b.click("button[type=submit]")
	b.check("subscribe-address-one-login", "What’s your email address?")
	b.click(`form[action="/email/subscriptions/verify/account"] button`)
	b.fill("#email", "erin@example.com")
	b.click("button[type=submit]")
	b.check("account-confirm", "Check your subscription")
	b.run(chromedp.Text("main", &text))
	if !strings.Contains(text, "Tax news") || !strings.Contains(text, "Once a week") || !strings.Contains(text, "erin@example.com") {
		t.Errorf("the confirmation page says: %s", text)
	}
	b.click(`form[action="/email/subscriptions/account"] button`)
	b.check("account-confirm-subscribed", "Subscriptions for erin@example.com")
	b.run(chromedp.Text("main", &text))
	if !strings.Contains(text, "You’ve subscribed to Tax news") || !strings.Contains(text, "Change it in your GOV.UK One Login") {
		t.Errorf("after subscribing with One Login the page says: %s", text)
	}
	var kinds []string
	if err := s.a.db.Select(&kinds, `SELECT kind FROM emails WHERE address = 'erin@example.com'`); err != nil || strings.Join(kinds, ",") != "subscribed" {
		t.Errorf("emails to erin: %v (%v), want only the subscribed email", kinds, err)
	}

	// A back-channel logout ends the session: the header drops "Sign out".
	logout, err := s.provider.LogoutToken(devoidc.Sub("erin@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := http.PostForm(s.public+"/sign-in/backchannel-logout", url.Values{"logout_token": {logout}}); err != nil || resp.StatusCode != 200 {
		t.Fatalf("back-channel logout: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	b.visit("/email/manage")
	b.check("after-backchannel-logout", "Manage your GOV.UK email subscriptions")
	var signOut int
	b.run(chromedp.Evaluate(`document.querySelectorAll('a[href="/sign-out"]').length`, &signOut))
	if signOut != 0 {
		t.Errorf("the header still shows Sign out after a back-channel logout")
	}

	// The same with an unverified account email: nothing is subscribed.
	b.visit("/email/subscriptions/verify?topic_id=france&frequency=daily")
	b.click(`form[action="/email/subscriptions/verify/account"] button`)
	b.fill("#email", "fred@example.com")
	var verified bool
	b.run(chromedp.Evaluate(`document.querySelector("#email_verified").checked`, &verified))
	if verified {
		b.click("#email_verified")
	}
	b.click("button[type=submit]")
	b.check("account-unverified", "You need to confirm your email address")

	// The dev outbox, whose long links wrap.
	b.visit("/dev/outbox")
	b.check("dev-outbox", "Development outbox")
	var overflow bool
	b.run(chromedp.Evaluate(`[...document.querySelectorAll(".dev-email__body")].some(e => e.scrollWidth > e.clientWidth)`, &overflow))
	if overflow {
		t.Errorf("an email in the dev outbox is wider than the page")
	}

	// Error pages.
	b.visit("/email/manage/authenticate/process?token=expired")
	b.check("expired-link", "This link has expired")
	b.visit("/no-such-page")
	b.check("not-found", "Page not found")
}
