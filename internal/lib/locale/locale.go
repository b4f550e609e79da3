// Package locale holds the service's words in English and Welsh: the
// message catalogues templates/locales/{en,cy}.toml, read with go-i18n
// (github.com/nicksnyder/go-i18n/v2), which applies CLDR's plural rules (Welsh
// has six forms: zero, one, two, few, many, other). Parse refuses
// catalogues that do not hold the same keys, or a plural message missing a
// form its language needs, so a missing translation stops the start.
//
// Pages and emails call the catalogue from their templates through Funcs
// (t, tn, date, lifetime, frequency); Go code calls T.
package locale

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/nicksnyder/go-i18n/v2/i18n"
	toml "github.com/pelletier/go-toml/v2"
	"golang.org/x/text/language"
)

// The languages, as BCP 47 tags: what <html lang>, the lang cookie, One
// Login's ui_locales and subscribers.locale hold.
const (
	English = "en"
	Welsh   = "cy"
)

// Languages are the supported languages, English (the default) first.
var Languages = []string{English, Welsh}

// Valid reports whether s is one of Languages.
func Valid(s string) bool { return s == English || s == Welsh }

// matcher picks the best of Languages for an Accept-Language header.
var matcher = language.NewMatcher([]language.Tag{language.English, language.MustParse("cy")})

// Match returns the best of Languages for an Accept-Language header value,
// English when nothing in it is close to either.
func Match(acceptLanguage string) string {
	tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(tags) == 0 {
		return English
	}
	_, index, confidence := matcher.Match(tags...)
	if confidence == language.No {
		return English
	}
	return Languages[index]
}

// pluralProbes are counts that reach every plural form of English (1, 2)
// and Welsh (0 zero, 1 one, 2 two, 3 few, 6 many, 4 other).
var pluralProbes = []int{0, 1, 2, 3, 4, 6}

// Catalogue is the parsed message catalogues.
type Catalogue struct {
	localizers map[string]*i18n.Localizer
	keys       []string
	plural     map[string]bool
	sources    map[string][]string // by language: every message's text, as written
}

// Parse reads locales/<lang>.toml for every language from fsys
// (templates.Locales). Every key must be in every catalogue, and a plural
// message (a table of zero/one/two/few/many/other) must have every form
// its language uses.
func Parse(fsys fs.FS) (*Catalogue, error) {
	bundle := i18n.NewBundle(language.English)
	bundle.RegisterUnmarshalFunc("toml", toml.Unmarshal)
	c := &Catalogue{localizers: map[string]*i18n.Localizer{}, plural: map[string]bool{}, sources: map[string][]string{}}
	keys := map[string]map[string]bool{}
	for _, lang := range Languages {
		path := "locales/" + lang + ".toml"
		buf, err := fs.ReadFile(fsys, path)
		if err != nil {
			return nil, fmt.Errorf("catalogue: %w", err)
		}
		file, err := bundle.ParseMessageFileBytes(buf, path)
		if err != nil {
			return nil, fmt.Errorf("catalogue %s: %w", path, err)
		}
		keys[lang] = map[string]bool{}
		for _, m := range file.Messages {
			keys[lang][m.ID] = true
			for _, text := range []string{m.Zero, m.One, m.Two, m.Few, m.Many, m.Other} {
				if text != "" {
					c.sources[lang] = append(c.sources[lang], text)
				}
			}
			if m.Zero != "" || m.One != "" || m.Two != "" || m.Few != "" || m.Many != "" {
				c.plural[m.ID] = true
			}
		}
		c.localizers[lang] = i18n.NewLocalizer(bundle, lang)
	}
	var problems []string
	for _, lang := range Languages {
		for _, other := range Languages {
			for key := range keys[other] {
				if !keys[lang][key] {
					problems = append(problems, fmt.Sprintf("%s lacks %q (in %s)", lang, key, other))
				}
			}
		}
	}
	for key := range keys[English] {
		c.keys = append(c.keys, key)
	}
	sort.Strings(c.keys)
	problems = slices.Compact(problems)
	for _, lang := range Languages {
		for _, key := range c.keys {
			if !keys[lang][key] {
				continue
			}
			probes := []int{-1}
			if c.plural[key] {
				probes = pluralProbes
			}
			for _, n := range probes {
				if _, err := c.localize(lang, key, n, nil); err != nil {
					problems = append(problems, fmt.Sprintf("%s %q: %v", lang, key, err))
					break
				}
			}
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return nil, fmt.Errorf("catalogue: %s", strings.Join(problems, "; "))
	}
	return c, nil
}

// Keys returns every message key, sorted.
func (c *Catalogue) Keys() []string { return slices.Clone(c.keys) }

// Sources returns the text of every message in lang as the catalogue
// writes it, placeholders ({{.Title}}) and all: for tests that look for one
// language's words on the other's pages.
func (c *Catalogue) Sources(lang string) []string { return slices.Clone(c.sources[lang]) }

// Plural reports whether key is a plural message (called with tn).
func (c *Catalogue) Plural(key string) bool { return c.plural[key] }

// ErrUnknownKey is a key that is in no catalogue.
var ErrUnknownKey = errors.New("no such message")

func (c *Catalogue) localize(lang, key string, count int, data map[string]any) (string, error) {
	loc, ok := c.localizers[lang]
	if !ok {
		loc = c.localizers[English]
		lang = English
	}
	cfg := &i18n.LocalizeConfig{MessageID: key, TemplateData: data}
	if count >= 0 {
		if data == nil {
			data = map[string]any{}
		}
		data["Count"] = count
		cfg.TemplateData, cfg.PluralCount = data, count
	}
	s, tag, err := loc.LocalizeWithTag(cfg)
	var notFound *i18n.MessageNotFoundErr
	if errors.As(err, &notFound) || (err == nil && tag.String() != lang) {
		return "", fmt.Errorf("%w: %q in %s", ErrUnknownKey, key, lang)
	}
	if err != nil {
		return "", fmt.Errorf("message %q in %s: %w", key, lang, err)
	}
	return s, nil
}

// pairs turns template arguments "Name", value, … into template data.
func pairs(args []any) (map[string]any, error) {
	if len(args)%2 != 0 {
		return nil, fmt.Errorf("message arguments: want name, value pairs, got %d values", len(args))
	}
	data := map[string]any{}
	for i := 0; i < len(args); i += 2 {
		name, ok := args[i].(string)
		if !ok {
			return nil, fmt.Errorf("message arguments: name %v is a %T", args[i], args[i])
		}
		data[name] = args[i+1]
	}
	return data, nil
}

// Text returns the message key in lang with args (name, value pairs)
// filled in, or an error for an unknown key.
func (c *Catalogue) Text(lang, key string, args ...any) (string, error) {
	data, err := pairs(args)
	if err != nil {
		return "", err
	}
	return c.localize(lang, key, -1, data)
}

// T is Text for Go code, whose keys are constants the catalogue test
// checks: an unknown key returns the key itself rather than an error.
func (c *Catalogue) T(lang, key string, args ...any) string {
	s, err := c.Text(lang, key, args...)
	if err != nil {
		return key
	}
	return s
}

// N returns the plural message key in lang for count, which the message
// knows as {{.Count}}.
func (c *Catalogue) N(lang, key string, count int, args ...any) (string, error) {
	data, err := pairs(args)
	if err != nil {
		return "", err
	}
	return c.localize(lang, key, count, data)
}

// monthKeys are the keys of the month names, January first.
var monthKeys = [12]string{"date.month.january", "date.month.february", "date.month.march", "date.month.april",
	"date.month.may", "date.month.june", "date.month.july", "date.month.august", "date.month.september",
	"date.month.october", "date.month.november", "date.month.december"}

// Date writes t's date as GOV.UK does: 1 December 2026, 1 Rhagfyr 2026.
func (c *Catalogue) Date(lang string, t time.Time) string {
	return fmt.Sprintf("%d %s %d", t.Day(), c.T(lang, monthKeys[t.Month()-1]), t.Year())
}

// Time writes t's time of day and date as GOV.UK does in emails:
// 10:05am, 1 December 2026 (10:05yb, 1 Rhagfyr 2026).
func (c *Catalogue) Time(lang string, t time.Time) string {
	suffix := c.T(lang, "date.am")
	if t.Hour() >= 12 {
		suffix = c.T(lang, "date.pm")
	}
	return t.Format("3:04") + suffix + ", " + c.Date(lang, t)
}

// Lifetime writes how long a link works: "24 hours", "7 days" ("24 awr",
// "7 diwrnod"). The words come from the same duration that sets the link's
// expiry (linking's TTL constants), so changing one changes the other.
// Whole days from two days up are written in days; whole hours in hours;
// anything else in minutes, rounded up to the next whole minute.
func (c *Catalogue) Lifetime(lang string, d time.Duration) string {
	const day = 24 * time.Hour
	key, n := "duration.minutes", max(1, int((d+time.Minute-1)/time.Minute))
	switch {
	case d >= 2*day && d%day == 0:
		key, n = "duration.days", int(d/day)
	case d >= time.Hour && d%time.Hour == 0:
		key, n = "duration.hours", int(d/time.Hour)
	}
	s, err := c.N(lang, key, n)
	if err != nil {
		return fmt.Sprint(d)
	}
	return s
}

// frequencyKeys name the sentence for each frequency: "You'll get an email
// <sentence>."
var frequencyKeys = map[string]string{
	"immediately": "frequency.sentence.immediately",
	"daily":       "frequency.sentence.daily",
	"weekly":      "frequency.sentence.weekly",
}

// FrequencyLabels name each frequency as the frequency question does.
var frequencyLabels = map[string]string{
	"immediately": "frequency.label.immediately",
	"daily":       "frequency.label.daily",
	"weekly":      "frequency.label.weekly",
}

// FrequencySentence describes the frequency f (immediately, daily or
// weekly) for emails and pages: "You'll get an email <sentence>."
func (c *Catalogue) FrequencySentence(lang, f string) (string, error) {
	key, ok := frequencyKeys[f]
	if !ok {
		return "", fmt.Errorf("frequency: %q is not one", f)
	}
	return c.Text(lang, key)
}

// FrequencyLabel names the frequency f as the frequency question does.
func (c *Catalogue) FrequencyLabel(lang, f string) string {
	key, ok := frequencyLabels[f]
	if !ok {
		return f
	}
	return c.T(lang, key)
}

// Funcs are the functions every template, email or page, in lang may call
// (text/template and html/template both take a map[string]any):
//
//	{{t "key" "Name" .Value}}       a message
//	{{tn "key" .Count "Name" .V}}   a plural message
//	{{date .Time}}                  1 December 2026
//	{{lifetime .Expiry}}            24 hours (a time.Duration)
//	{{frequency .Frequency}}        once a day, with all the updates from that day
//
// A template rendered with no data at all (as the pages are at start)
// prints nothing for a date, lifetime or frequency.
func (c *Catalogue) Funcs(lang string) map[string]any {
	return map[string]any{
		"t": func(key string, args ...any) (string, error) { return c.Text(lang, key, args...) },
		"tn": func(key string, count int, args ...any) (string, error) {
			return c.N(lang, key, count, args...)
		},
		"date": func(v any) (string, error) {
			switch t := v.(type) {
			case nil:
				return "", nil
			case time.Time:
				return c.Date(lang, t), nil
			default:
				return "", fmt.Errorf("date: got %T, want a time.Time", v)
			}
		},
		"lifetime": func(v any) (string, error) {
			switch d := v.(type) {
			case nil:
				return "", nil
			case time.Duration:
				return c.Lifetime(lang, d), nil
			default:
				return "", fmt.Errorf("lifetime: got %T, want a time.Duration", v)
			}
		},
		"frequency": func(v any) (string, error) {
			if v == nil {
				return "", nil
			}
			return c.FrequencySentence(lang, fmt.Sprint(v))
		},
	}
}
