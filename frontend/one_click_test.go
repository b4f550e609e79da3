package frontend_test

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"email-alert/internal/testkit/testrig"
)

// oneClickPath returns the path and query of the one-click URL
// (List-Unsubscribe) of the newest "You've subscribed" email to address.
func oneClickPath(t *testing.T, s *testrig.Site, address string) string {
	t.Helper()
	var raw string
	err := s.App.DB().Get(&raw, `SELECT list_unsubscribe_url FROM emails
		WHERE kind = 'subscribed' AND address = $1 ORDER BY created_at DESC LIMIT 1`, address)
	if err != nil {
		t.Fatal(err)
	}
	path, ok := strings.CutPrefix(raw, "http://localhost:3000/email/unsubscribe/one-click/")
	if !ok {
		t.Fatalf("one-click URL %q, want PUBLIC_URL/email/unsubscribe/one-click/…", raw)
	}
	return "/email/unsubscribe/one-click/" + path
}

// mailClientPost posts body to path as a mail client does: from another
// site, following no redirect.
func mailClientPost(t *testing.T, s *testrig.Site, method, path, contentType string, body io.Reader) testrig.Page {
	t.Helper()
	req, _ := http.NewRequest(method, s.Server.URL+path, body)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Origin", "https://mail.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return testrig.Page{Status: resp.StatusCode, URL: resp.Request.URL, Header: resp.Header, Body: string(b)}
}

const oneClickForm = "application/x-www-form-urlencoded"

func activeCount(t *testing.T, s *testrig.Site) int {
	t.Helper()
	return len(activeSubscriptions(t, s))
}

// TestOneClickUnsubscribe: the List-Unsubscribe URL of the "You've
// subscribed" email, posted from elsewhere with List-Unsubscribe=One-Click,
// ends the subscription with a 200 page and no redirect; posted again it
// is 200 and ends nothing; anything else ends nothing.
func TestOneClickUnsubscribe(t *testing.T) {
	s := testrig.NewSite(t)
	s.API.MustDo(t, "POST", "/subscriber-lists", `{"title":"Tax news"}`, nil)
	s.API.MustDo(t, "POST", "/subscriptions", `{"address":"ann@example.com","subscriber_list_id":1}`, nil)
	path := oneClickPath(t, s, "ann@example.com")
	u, _ := url.Parse(path)
	token := u.Query().Get("token")
	id := strings.TrimPrefix(u.Path, "/email/unsubscribe/one-click/")

	for _, tt := range []struct {
		name, method, path, contentType, body string
		want                                  int
	}{
		{"a GET (a link scanner)", "GET", path, "", "", http.StatusMethodNotAllowed},
		{"no body", "POST", path, oneClickForm, "", http.StatusBadRequest},
		{"another value", "POST", path, oneClickForm, "List-Unsubscribe=Yes", http.StatusBadRequest},
		{"another field", "POST", path, oneClickForm, "unsubscribe=One-Click", http.StatusBadRequest},
		{"JSON", "POST", path, "application/json", `{"List-Unsubscribe":"One-Click"}`, http.StatusUnsupportedMediaType},
		{"a forged token", "POST", "/email/unsubscribe/one-click/" + id + "?token=" + strings.Repeat("A", 43), oneClickForm, "List-Unsubscribe=One-Click", http.StatusGone},
		{"a tampered token", "POST", "/email/unsubscribe/one-click/" + id + "?token=" + token[:len(token)-1] + "B", oneClickForm, "List-Unsubscribe=One-Click", http.StatusGone},
		{"no token", "POST", "/email/unsubscribe/one-click/" + id, oneClickForm, "List-Unsubscribe=One-Click", http.StatusGone},
		{"the token in the body", "POST", "/email/unsubscribe/one-click/" + id, oneClickForm, "List-Unsubscribe=One-Click&token=" + token, http.StatusGone},
		{"another subscription's id", "POST", "/email/unsubscribe/one-click/3f1c8b2e-4b0a-4e53-9a43-6f1f0c2d7a10?token=" + token, oneClickForm, "List-Unsubscribe=One-Click", http.StatusGone},
		{"a malformed id", "POST", "/email/unsubscribe/one-click/1?token=" + token, oneClickForm, "List-Unsubscribe=One-Click", http.StatusNotFound},
	} {
		p := mailClientPost(t, s, tt.method, tt.path, tt.contentType, strings.NewReader(tt.body))
		if p.Status != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, p.Status, tt.want)
		}
		if n := activeCount(t, s); n != 1 {
			t.Fatalf("%s: %d active subscriptions, want 1 (nothing changed)", tt.name, n)
		}
	}

	p := mailClientPost(t, s, "POST", path, oneClickForm, strings.NewReader("List-Unsubscribe=One-Click"))
	if p.Status != http.StatusOK || p.Header.Get("Location") != "" {
		t.Fatalf("one-click: %d (Location %q), want 200 and no redirect", p.Status, p.Header.Get("Location"))
	}
	testrig.MustContain(t, p, "You’ve unsubscribed", "from Tax news", `class="govuk-panel`)
	if got := p.Header.Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("Referrer-Policy %q, want no-referrer (the URL holds a token)", got)
	}
	if got := p.Header.Get("Cache-Control"); got != "private, no-store" {
		t.Errorf("Cache-Control %q, want private, no-store", got)
	}
	if n := activeCount(t, s); n != 0 {
		t.Errorf("%d active subscriptions after the one-click, want 0", n)
	}

	again := mailClientPost(t, s, "POST", path, oneClickForm, strings.NewReader("List-Unsubscribe=One-Click"))
	if again.Status != http.StatusOK {
		t.Errorf("second one-click: %d, want 200", again.Status)
	}
	testrig.MustContain(t, again, "You’re not subscribed to Tax news")
	if strings.Contains(again.Body, "You’ve unsubscribed") {
		t.Errorf("the second one-click claims an unsubscription:\n%s", again.Body)
	}
	var endings []struct {
		Kind   string `db:"cause_kind"`
		Reason string `db:"reason"`
	}
	err := s.App.DB().Select(&endings, `SELECT cause_kind, details->>'reason' AS reason FROM subscriber_audit WHERE action = 'subscriptions_ended'`)
	if err != nil || len(endings) != 1 || endings[0].Kind != "one_click" || endings[0].Reason != "unsubscribed" {
		t.Errorf("endings in the audit trail: %+v (%v), want one: unsubscribed, by one_click", endings, err)
	}
}

// TestOneClickUnsubscribeMultipart: RFC 8058 lets a mail client send the
// body as multipart/form-data.
func TestOneClickUnsubscribeMultipart(t *testing.T) {
	s := testrig.NewSite(t)
	s.API.MustDo(t, "POST", "/subscriber-lists", `{"title":"Tax news"}`, nil)
	s.API.MustDo(t, "POST", "/subscriptions", `{"address":"ann@example.com","subscriber_list_id":1}`, nil)
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	if err := w.WriteField("List-Unsubscribe", "One-Click"); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
	p := mailClientPost(t, s, "POST", oneClickPath(t, s, "ann@example.com"), w.FormDataContentType(), &body)
	if p.Status != http.StatusOK {
		t.Errorf("multipart one-click: %d, want 200", p.Status)
	}
	if n := activeCount(t, s); n != 0 {
		t.Errorf("%d active subscriptions, want 0", n)
	}
}
