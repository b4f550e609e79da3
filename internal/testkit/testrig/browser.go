package testrig

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"email-alert/internal/lib/locale"
)

// axeSource is axe-core, injected into every page the browser visits.
//
//go:embed testdata/axe-core/axe.min.js
var axeSource string

// Browser drives one headless Chromium through an AccountSite as a person
// would, checking every page with axe-core and saving a screenshot of it
// under <repository>/test-output/screenshots (kept by CI as an artifact).
type Browser struct {
	t    *testing.T
	ctx  context.Context
	site *AccountSite
	shot int
	// lang is the language every page must be in (<html lang>); on a
	// Welsh page none of english may appear (see InLanguage).
	lang    string
	english []string
}

// InLanguage makes every page Check sees be in lang, and, for Welsh, hold
// none of the English catalogue's words (see EnglishFragments), outside
// elements marked lang="en" (the header's link to the English page).
func (b *Browser) InLanguage(lang string, c *locale.Catalogue) {
	b.lang = lang
	if lang == locale.Welsh {
		b.english = EnglishFragments(c)
	}
}

// placeholder matches a message's {{…}} actions.
var placeholder = regexp.MustCompile(`\{\{[^}]*\}\}`)

// EnglishFragments returns the pieces of English text in the catalogue:
// each message split at its placeholders, trimmed, keeping those of four
// letters or more that no Welsh message holds too ("GOV.UK One Login" is
// the same in both).
func EnglishFragments(c *locale.Catalogue) []string {
	welsh := strings.Join(c.Sources(locale.Welsh), "\n")
	seen := map[string]bool{}
	var out []string
	for _, text := range c.Sources(locale.English) {
		for _, piece := range placeholder.Split(text, -1) {
			piece = strings.Trim(piece, " .,:;?!–-")
			letters := 0
			for _, r := range piece {
				if unicode.IsLetter(r) {
					letters++
				}
			}
			if letters < 4 || strings.HasPrefix(piece, "http") || strings.Contains(welsh, piece) || seen[piece] {
				continue
			}
			seen[piece] = true
			out = append(out, piece)
		}
	}
	return out
}

// pageText is the page's title, text and labels, but for elements in
// another language than the page's own, code (identifiers) and URLs.
const pageText = `(() => {
  const page = document.documentElement.lang;
  const body = document.body.cloneNode(true);
  body.querySelectorAll("[lang]").forEach(e => { if (e.lang !== page) e.remove(); });
  body.querySelectorAll("code").forEach(e => e.remove()); // identifiers, such as an email's kind
  const labels = [...body.querySelectorAll("[aria-label]")].map(e => e.getAttribute("aria-label"));
  const meta = document.querySelector('meta[name="description"]');
  // Links (in the dev outbox's emails) are paths, not words.
  return [document.title, meta ? meta.content : "", body.textContent, ...labels].join("\n").replace(/https?:\/\/\S+/g, "");
})()`

// checkLanguage fails the test when the page is not in b.lang, or when a
// Welsh page holds English from the catalogue.
func (b *Browser) checkLanguage(step, location string) {
	b.t.Helper()
	if b.lang == "" {
		return
	}
	var lang, text string
	b.Run(chromedp.Evaluate(`document.documentElement.lang`, &lang), chromedp.Evaluate(pageText, &text))
	if lang != b.lang {
		b.t.Errorf("%s (%s): <html lang=%q>, want %q", step, location, lang, b.lang)
	}
	for _, english := range b.english {
		if strings.Contains(text, english) {
			b.t.Errorf("%s (%s): the %s page has the English %q", step, location, b.lang, english)
		}
	}
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

// NewBrowser starts Chromium for s; it stops when the test ends.
func NewBrowser(t *testing.T, s *AccountSite) *Browser {
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
	return &Browser{t: t, ctx: ctx, site: s}
}

// Run runs actions in the browser, failing the test on an error.
func (b *Browser) Run(actions ...chromedp.Action) {
	b.t.Helper()
	if err := chromedp.Run(b.ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

// Visit opens path on the frontend (or a full URL).
func (b *Browser) Visit(path string) {
	b.t.Helper()
	if !strings.HasPrefix(path, "http") {
		path = b.site.Public + path
	}
	b.Run(chromedp.Navigate(path), chromedp.WaitReady("body"))
}

// Check asserts the page's main heading, then runs axe-core on it and
// saves a screenshot named after the step.
func (b *Browser) Check(step, heading string) {
	b.t.Helper()
	var h1, location string
	b.Run(chromedp.WaitReady("h1"), chromedp.Text("h1", &h1), chromedp.Location(&location))
	if !strings.Contains(h1, heading) {
		b.t.Fatalf("%s: %s has heading %q, want %q", step, location, h1, heading)
	}
	b.shot++
	var png []byte
	b.Run(chromedp.FullScreenshot(&png, 100)) // 100: PNG
	dir := filepath.Join(repositoryRoot(b.t), "test-output", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err == nil {
		_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("%02d-%s.png", b.shot, step)), png, 0o644)
	}
	b.axe(step, location)
	b.checkLanguage(step, location)
}

// repositoryRoot is the directory of go.mod above the test's package.
func repositoryRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			t.Fatalf("no go.mod above %s", dir)
		}
	}
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
func (b *Browser) axe(step, location string) {
	b.t.Helper()
	var violations []axeViolation
	run := `axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations)`
	b.Run(
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

// Fill types value into the field selector names.
func (b *Browser) Fill(selector, value string) {
	b.t.Helper()
	b.Run(chromedp.WaitVisible(selector), chromedp.SetValue(selector, value), chromedp.SendKeys(selector, ""))
}

// Click clicks the element selector names and waits for the page.
func (b *Browser) Click(selector string) {
	b.t.Helper()
	b.Run(chromedp.Click(selector), chromedp.Sleep(150*time.Millisecond), chromedp.WaitReady("body"))
}
