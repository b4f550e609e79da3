package testrig

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// Site is the frontend of a rig app on a test server, driven like a
// browser with a cookie jar, beside the app's API (in memory) and
// database (for reading the emails the app writes).
type Site struct {
	// T is the test the site belongs to: the helpers fail it.
	T      *testing.T
	App    *App
	Server *httptest.Server
	Client *http.Client
	API    *API
}

// NewSite serves the frontend of a fresh NewAPIApp; it marks the test
// parallel.
func NewSite(t *testing.T) *Site {
	t.Helper()
	t.Parallel()
	a := NewAPIApp(t)
	server := httptest.NewServer(a.FrontendHandler())
	t.Cleanup(server.Close)
	jar, _ := cookiejar.New(nil)
	return &Site{T: t, App: a, Server: server, Client: &http.Client{Jar: jar}, API: &API{Router: a.APIRouter()}}
}

// Page is a response as the browser ends up with it, after redirects.
type Page struct {
	Status int
	URL    *url.URL
	Header http.Header
	Body   string
}

// Do sends req with the site's client (its cookie jar, following
// redirects) and reads the page it ends at.
func (s *Site) Do(req *http.Request) Page {
	s.T.Helper()
	resp, err := s.Client.Do(req)
	if err != nil {
		s.T.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return Page{Status: resp.StatusCode, URL: resp.Request.URL, Header: resp.Header, Body: string(body)}
}

// Get opens path on the site.
func (s *Site) Get(path string) Page {
	s.T.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.Server.URL+path, nil)
	return s.Do(req)
}

// Post submits form to path, with header on top.
func (s *Site) Post(path string, form url.Values, header http.Header) Page {
	s.T.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.Server.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	return s.Do(req)
}

var emailLink = regexp.MustCompile(`http://localhost:3000(/\S+)`)

// LastEmail returns the kind of the newest email to address and the path
// of the first link in it (PUBLIC_URL removed), or "" when there is none.
func (s *Site) LastEmail(address string) (kind, link string) {
	s.T.Helper()
	var e struct {
		Kind string `db:"kind"`
		Body string `db:"body"`
	}
	err := s.App.DB().Get(&e, `SELECT kind, body FROM emails WHERE address = $1 ORDER BY created_at DESC LIMIT 1`, address)
	if err != nil {
		return "", ""
	}
	if m := emailLink.FindStringSubmatch(e.Body); m != nil {
		link = m[1]
	}
	return e.Kind, link
}

// EmailCount counts the emails in the outbox.
func (s *Site) EmailCount() int {
	s.T.Helper()
	var n int
	if err := s.App.DB().Get(&n, `SELECT count(*) FROM emails`); err != nil {
		s.T.Fatal(err)
	}
	return n
}

// Click follows link as a browser with no cookies that does not follow
// redirects: someone else who has the email, or the same person later.
func (s *Site) Click(link string) *http.Response {
	s.T.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(s.Server.URL + link)
	if err != nil {
		s.T.Fatal(err)
	}
	s.T.Cleanup(func() { resp.Body.Close() })
	return resp
}

// SignedIn subscribes ann to two lists and signs her in by magic link.
func (s *Site) SignedIn(t *testing.T) {
	t.Helper()
	s.API.MustDo(t, "POST", "/subscriber-lists", `{"title":"Tax news","slug":"tax"}`, nil)
	s.API.MustDo(t, "POST", "/subscriber-lists", `{"title":"Travel","slug":"travel"}`, nil)
	for _, list := range []string{"1", "2"} {
		s.API.MustDo(t, "POST", "/subscriptions", `{"address":"ann@example.com","subscriber_list_id":`+list+`,"frequency":"daily"}`, nil)
	}
	s.Post("/email/manage/authenticate", url.Values{"address": {"ann@example.com"}}, nil)
	_, link := s.LastEmail("ann@example.com")
	if p := s.Get(link); p.URL.Path != "/email/manage" {
		t.Fatalf("sign-in ended at %s", p.URL)
	}
}

// MustContain fails t unless p's body contains every one of want.
func MustContain(t testing.TB, p Page, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(p.Body, w) {
			t.Errorf("%s (%d) does not contain %q:\n%s", p.URL.Path, p.Status, w, p.Body)
		}
	}
}
