package frontend_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"email-alert/internal/testkit/testrig"
)

// TestPageLanguage: the page language follows ?lang= (which sets the lang
// cookie), then the cookie, then Accept-Language; <html lang> says which,
// and the header links to the same page, query kept, in the other one.
func TestPageLanguage(t *testing.T) {
	s := testrig.NewSite(t)
	s.API.MustDo(t, "POST", "/subscriber-lists", `{"title":"Tax news","slug":"tax"}`, nil)
	get := func(path, acceptLanguage string) testrig.Page {
		t.Helper()
		req, err := http.NewRequest("GET", s.Server.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if acceptLanguage != "" {
			req.Header.Set("Accept-Language", acceptLanguage)
		}
		return s.Do(req)
	}

	p := get("/email/subscriptions/new?topic_id=tax", "")
	testrig.MustContain(t, p, `<html lang="en"`, "How often do you want to get emails about Tax news?",
		`href="?lang=cy&amp;topic_id=tax" hreflang="cy" lang="cy"`, "Cymraeg", "Skip to main content")
	if v := strings.Join(p.Header.Values("Vary"), ", "); !strings.Contains(v, "Accept-Language") || !strings.Contains(v, "Cookie") {
		t.Errorf("Vary %q, want Accept-Language and Cookie", v)
	}

	p = get("/email/subscriptions/new?topic_id=tax", "cy-GB,cy;q=0.9,en;q=0.5")
	testrig.MustContain(t, p, `<html lang="cy"`, "Pa mor aml ydych chi eisiau cael negeseuon e-bost am Tax news?",
		"Neidio i’r prif gynnwys", "© Hawlfraint y goron", "Yn ôl", "Unwaith yr wythnos",
		`href="?lang=en&amp;topic_id=tax" hreflang="en" lang="en"`)

	// ?lang=cy sets the cookie; the next page, asked in English, stays Welsh.
	p = get("/email/subscriptions/new?lang=cy&topic_id=tax", "en")
	testrig.MustContain(t, p, `<html lang="cy"`, "Pa mor aml")
	if !strings.Contains(p.Header.Get("Set-Cookie"), "lang=cy") {
		t.Errorf("?lang=cy set no cookie: %q", p.Header.Get("Set-Cookie"))
	}
	p = get("/email/manage/authenticate", "en")
	testrig.MustContain(t, p, `<html lang="cy"`, "Rheoli eich tanysgrifiadau e-bost GOV.UK", "Mewngofnodi gyda GOV.UK One Login")
	p = get("/email/manage/authenticate?lang=en", "cy")
	testrig.MustContain(t, p, `<html lang="en"`, "Manage your GOV.UK email subscriptions")

	// Anything but en or cy is ignored, in the query and in the cookie.
	p = get("/email/manage/authenticate?lang=fr", "")
	testrig.MustContain(t, p, `<html lang="en"`)
	if c := p.Header.Get("Set-Cookie"); strings.Contains(c, "lang=") {
		t.Errorf("?lang=fr set a cookie: %q", c)
	}
	req, _ := http.NewRequest("GET", s.Server.URL+"/email/manage/authenticate", nil)
	req.AddCookie(&http.Cookie{Name: "lang", Value: "x<script>"})
	req.Header.Set("Accept-Language", "cy")
	bare := &http.Client{}
	resp, err := bare.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `<html lang="cy"`) {
		t.Errorf("a lang cookie that is neither en nor cy was not ignored for Accept-Language: %.300s", body)
	}

	// The language link is only a query: a path that looks like another
	// host stays a path of this site.
	p = get("//evil.example/x?lang=cy", "")
	if strings.Contains(p.Body, `href="//evil.example`) || !strings.Contains(p.Body, `href="?lang=en"`) {
		t.Errorf("404 page's language link: %s", p.Body)
	}

	// Errors are in the page's language too.
	p = get("/no-such-page?lang=cy", "")
	testrig.MustContain(t, p, "Tudalen heb ei darganfod")
}

// TestOneLoginUILocales: One Login is asked to show its pages in the
// page's language.
func TestOneLoginUILocales(t *testing.T) {
	s := testrig.NewAccountSite(t)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, c := range []struct{ path, acceptLanguage, want string }{
		{"/email/manage/authenticate/account", "", "en"},
		{"/email/manage/authenticate/account?lang=cy", "", "cy"},
		{"/email/manage/authenticate/account", "cy", "cy"},
	} {
		req, _ := http.NewRequest("GET", s.Public+c.path, nil)
		req.Header.Set("Accept-Language", c.acceptLanguage)
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		location, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || resp.StatusCode != http.StatusFound {
			t.Fatalf("%s: %d to %q", c.path, resp.StatusCode, resp.Header.Get("Location"))
		}
		if got := location.Query().Get("ui_locales"); got != c.want {
			t.Errorf("%s (Accept-Language %q): ui_locales %q, want %q", c.path, c.acceptLanguage, got, c.want)
		}
	}
}

// TestEmailLanguage: a subscriber's emails go in the language of the page
// (or the API's locale) where they last subscribed or signed in; emails
// written for a request are in its language, and links in a Welsh email
// open the pages in Welsh.
func TestEmailLanguage(t *testing.T) {
	s := testrig.NewSite(t)
	s.API.MustDo(t, "POST", "/subscriber-lists", `{"title":"Tax news","slug":"tax"}`, nil)
	newest := func(address string) (kind, subject, body string) {
		t.Helper()
		var e struct{ Kind, Subject, Body string }
		if err := s.App.DB().Get(&e, `SELECT kind, subject, body FROM emails WHERE address = $1 ORDER BY created_at DESC LIMIT 1`, address); err != nil {
			t.Fatalf("no email to %s: %v", address, err)
		}
		return e.Kind, e.Subject, e.Body
	}
	locale := func(address string) string {
		t.Helper()
		var l string
		if err := s.App.DB().Get(&l, `SELECT locale FROM subscribers WHERE address = $1`, address); err != nil {
			t.Fatal(err)
		}
		return l
	}

	// POST /subscriptions with a locale: stored, and the subscribed email in it.
	var created struct {
		Subscription struct {
			Subscriber struct{ Locale string } `json:"subscriber"`
		} `json:"subscription"`
	}
	s.API.MustDo(t, "POST", "/subscriptions", `{"address":"ann@example.com","subscriber_list_id":1,"locale":"cy"}`, &created)
	if created.Subscription.Subscriber.Locale != "cy" {
		t.Errorf("subscriber in the answer: locale %q, want cy", created.Subscription.Subscriber.Locale)
	}
	if kind, subject, body := newest("ann@example.com"); kind != "subscribed" || subject != "Rydych wedi tanysgrifio i: Tax news" ||
		!strings.Contains(body, "lang=cy&token=") || !strings.Contains(body, "Byddwch yn cael e-bost bob tro y bydd diweddariad.") {
		t.Errorf("subscribed email: %s %q\n%s", kind, subject, body)
	}
	// Without a locale, the subscriber's stays.
	s.API.MustDo(t, "POST", "/subscriptions", `{"address":"ann@example.com","subscriber_list_id":1,"frequency":"daily"}`, nil)
	if l := locale("ann@example.com"); l != "cy" {
		t.Errorf("locale after a subscription without one: %q", l)
	}

	// POST /subscribers/auth-token: the subscriber's locale, unless the call names one.
	if w := s.API.Do("POST", "/subscribers/auth-token", `{"address":"ann@example.com","destination":"/email/manage"}`, nil); w.Code != http.StatusCreated {
		t.Fatalf("auth-token: %d %s", w.Code, w.Body)
	}
	if _, subject, _ := newest("ann@example.com"); subject != "Rheoli eich tanysgrifiadau e-bost GOV.UK" {
		t.Errorf("sign-in email to a Welsh subscriber: %q", subject)
	}
	if w := s.API.Do("POST", "/subscribers/auth-token", `{"address":"ann@example.com","destination":"/email/manage","locale":"en"}`, nil); w.Code != http.StatusCreated {
		t.Fatalf("auth-token: %d %s", w.Code, w.Body)
	}
	if _, subject, _ := newest("ann@example.com"); subject != "Manage your GOV.UK email subscriptions" {
		t.Errorf("sign-in email asked in English: %q", subject)
	}

	// POST /subscriptions/auth-token in Welsh: the confirmation is Welsh,
	// its link opens a Welsh page, and the subscriber it makes is Welsh.
	if w := s.API.Do("POST", "/subscriptions/auth-token", `{"address":"carol@example.com","topic_id":"tax","frequency":"weekly","locale":"cy"}`, nil); w.Code != http.StatusOK {
		t.Fatalf("subscriptions/auth-token: %d %s", w.Code, w.Body)
	}
	_, subject, body := newest("carol@example.com")
	if subject != "Cadarnhewch eich bod eisiau cael negeseuon e-bost gan GOV.UK" || !strings.Contains(body, "ar ôl 7 diwrnod") {
		t.Errorf("Welsh confirmation: %q\n%s", subject, body)
	}
	_, link := s.LastEmail("carol@example.com")
	if !strings.Contains(link, "lang=cy") {
		t.Fatalf("confirmation link %q has no lang=cy", link)
	}
	p := s.Get(link)
	testrig.MustContain(t, p, `<html lang="cy"`, "Rydych wedi tanysgrifio i Tax news")
	if l := locale("carol@example.com"); l != "cy" {
		t.Errorf("carol's locale: %q, want cy", l)
	}
	if kind, subject, _ := newest("carol@example.com"); kind != "subscribed" || subject != "Rydych wedi tanysgrifio i: Tax news" {
		t.Errorf("carol's subscribed email: %s %q", kind, subject)
	}

	// Signing in by email on an English page: the link is English, and
	// following it makes the subscriber's emails English.
	s.Get("/email/manage/authenticate?lang=en")
	s.Post("/email/manage/authenticate", url.Values{"address": {"carol@example.com"}}, nil)
	_, subject, body = newest("carol@example.com")
	if subject != "Manage your GOV.UK email subscriptions" || strings.Contains(body, "lang=cy") {
		t.Errorf("sign-in email from an English page: %q\n%s", subject, body)
	}
	_, link = s.LastEmail("carol@example.com")
	testrig.MustContain(t, s.Get(link), "Subscriptions for carol@example.com")
	if l := locale("carol@example.com"); l != "en" {
		t.Errorf("carol's locale after signing in on an English page: %q, want en", l)
	}
}
