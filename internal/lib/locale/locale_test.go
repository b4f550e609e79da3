package locale_test

import (
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"email-alert/internal/lib/locale"
	"email-alert/templates"
)

func catalogue(t *testing.T) *locale.Catalogue {
	t.Helper()
	c, err := locale.Parse(templates.Locales)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCataloguesMatch: a key in one catalogue and not the other, or a
// plural message without a form its language needs, stops the start.
func TestCataloguesMatch(t *testing.T) {
	catalogue(t)
	for name, c := range map[string]struct{ en, cy, want string }{
		"missing in cy": {"a = \"A\"\nb = \"B\"\n", "a = \"A\"\n", `cy lacks "b"`},
		"missing in en": {"a = \"A\"\n", "a = \"A\"\nb = \"B\"\n", `en lacks "b"`},
		"cy plural form missing": {"[n]\none = \"1\"\nother = \"n\"\n",
			"[n]\nzero = \"0\"\none = \"1\"\ntwo = \"2\"\nfew = \"3\"\nother = \"n\"\n", `cy "n"`},
	} {
		_, err := locale.Parse(fstest.MapFS{
			"locales/en.toml": {Data: []byte(c.en)}, "locales/cy.toml": {Data: []byte(c.cy)},
		})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Parse = %v, want an error naming %s", name, err, c.want)
		}
	}
}

func TestMatch(t *testing.T) {
	for header, want := range map[string]string{
		"":                        "en",
		"cy":                      "cy",
		"cy-GB,cy;q=0.9,en;q=0.8": "cy",
		"en-GB,en;q=0.9,cy;q=0.8": "en",
		"fr-FR,fr;q=0.9":          "en",
		"de, cy;q=0.5":            "cy",
		"garbage;;q=x":            "en",
		"en-US":                   "en",
	} {
		if got := locale.Match(header); got != want {
			t.Errorf("Match(%q) = %q, want %q", header, got, want)
		}
	}
}

func TestDates(t *testing.T) {
	c := catalogue(t)
	at := time.Date(2026, time.December, 1, 15, 4, 0, 0, time.UTC)
	for _, tc := range []struct{ lang, date, time string }{
		{"en", "1 December 2026", "3:04pm, 1 December 2026"},
		{"cy", "1 Rhagfyr 2026", "3:04yp, 1 Rhagfyr 2026"},
	} {
		if got := c.Date(tc.lang, at); got != tc.date {
			t.Errorf("Date(%s) = %q, want %q", tc.lang, got, tc.date)
		}
		if got := c.Time(tc.lang, at); got != tc.time {
			t.Errorf("Time(%s) = %q, want %q", tc.lang, got, tc.time)
		}
	}
	if got := c.Date("cy", time.Date(2027, time.June, 30, 0, 0, 0, 0, time.UTC)); got != "30 Mehefin 2027" {
		t.Errorf("June in Welsh: %q", got)
	}
}

func TestLifetime(t *testing.T) {
	c := catalogue(t)
	for _, tc := range []struct {
		d      time.Duration
		en, cy string
	}{
		{24 * time.Hour, "24 hours", "24 awr"},
		{7 * 24 * time.Hour, "7 days", "7 diwrnod"},
		{2 * 24 * time.Hour, "2 days", "2 ddiwrnod"},
		{365 * 24 * time.Hour, "365 days", "365 diwrnod"},
		{36 * time.Hour, "36 hours", "36 awr"},
		{time.Hour, "1 hour", "1 awr"},
		{90 * time.Minute, "90 minutes", "90 munud"},
		{time.Minute, "1 minute", "1 munud"},
		{2 * time.Minute, "2 minutes", "2 funud"},
		{90 * time.Second, "2 minutes", "2 funud"}, // rounded up: never promise less than the link gives
		{30 * time.Second, "1 minute", "1 munud"},
	} {
		if got := c.Lifetime("en", tc.d); got != tc.en {
			t.Errorf("Lifetime(en, %v) = %q, want %q", tc.d, got, tc.en)
		}
		if got := c.Lifetime("cy", tc.d); got != tc.cy {
			t.Errorf("Lifetime(cy, %v) = %q, want %q", tc.d, got, tc.cy)
		}
	}
}

// TestWelshPlurals: "N subscriptions" takes each of CLDR's six Welsh forms.
func TestWelshPlurals(t *testing.T) {
	c := catalogue(t)
	for n, want := range map[int]string{
		0:  "Nid oes gennych unrhyw danysgrifiadau.",
		1:  "Mae gennych 1 tanysgrifiad.",
		2:  "Mae gennych 2 danysgrifiad.",
		3:  "Mae gennych 3 thanysgrifiad.",
		6:  "Mae gennych 6 thanysgrifiad.",
		4:  "Mae gennych 4 tanysgrifiad.",
		11: "Mae gennych 11 tanysgrifiad.",
	} {
		if got, err := c.N("cy", "manage.count", n); err != nil || got != want {
			t.Errorf("N(cy, %d) = %q, %v; want %q", n, got, err, want)
		}
	}
	if got, _ := c.N("en", "manage.count", 1); got != "You have 1 subscription." {
		t.Errorf("N(en, 1) = %q", got)
	}
	if got, _ := c.N("en", "manage.count", 0); got != "You have 0 subscriptions." {
		t.Errorf("N(en, 0) = %q", got)
	}
}

func TestFuncs(t *testing.T) {
	c := catalogue(t)
	f := c.Funcs("cy")
	lifetime := f["lifetime"].(func(any) (string, error))
	if got, err := lifetime(7 * 24 * time.Hour); err != nil || got != "7 diwrnod" {
		t.Errorf("lifetime(7 days) = %q, %v", got, err)
	}
	if got, err := lifetime(nil); err != nil || got != "" {
		t.Errorf("lifetime(nil) = %q, %v; want nothing printed, for pages rendered without data", got, err)
	}
	if _, err := lifetime("24 hours"); err == nil || !strings.Contains(err.Error(), "time.Duration") {
		t.Errorf("lifetime(\"24 hours\") err = %v, want one asking for a time.Duration", err)
	}
	tr := f["t"].(func(string, ...any) (string, error))
	if got, err := tr("notice.subscribed", "Title", "Tax"); err != nil || got != "Rydych wedi tanysgrifio i Tax" {
		t.Errorf("t = %q, %v", got, err)
	}
	if _, err := tr("no.such.key"); err == nil {
		t.Error("an unknown key rendered; want an error")
	}
	if _, err := tr("notice.subscribed", "Title"); err == nil {
		t.Error("an odd number of arguments rendered; want an error")
	}
	if got, err := c.FrequencySentence("cy", "daily"); err != nil || !strings.HasPrefix(got, "unwaith y dydd") {
		t.Errorf("frequency daily = %q, %v", got, err)
	}
}
