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
