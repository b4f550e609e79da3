package app_test

import (
	"email-alert/internal/testkit/testrig"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
)

// serveEncoded asks h for target with Accept-Encoding: gzip and returns the
// answer and its body, decompressed when it was compressed.
func serveEncoded(t *testing.T, h http.Handler, method, target, form string, header http.Header) (*httptest.ResponseRecorder, string) {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(form))
	for k, v := range header {
		req.Header[k] = v
	}
	if form != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept-Encoding", "gzip")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	var r io.Reader = w.Body
	if w.Header().Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(w.Body)
		if err != nil {
			t.Fatalf("%s %s: %v", method, target, err)
		}
		r = zr
	}
	body, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	return w, string(body)
}

// TestCompressionNegotiated checks that pages and large JSON answers are
// gzipped for a client that accepts it, small JSON answers are not, every
// answer has Vary: Accept-Encoding, and a page asked for with a secret in
// its query or form is never compressed (BREACH).
func TestCompressionNegotiated(t *testing.T) {
	a := testrig.NewAPIApp(t)
	r := a.APIRouter()
	f := &testrig.API{Router: r}
	var list struct {
		SubscriberList struct {
			ID   int64
			Slug string
		} `json:"subscriber_list"`
	}
	f.MustDo(t, "POST", "/subscriber-lists", `{"title":"Tax news"}`, &list)
	f.ListID, f.Slug = list.SubscriberList.ID, list.SubscriberList.Slug
	var sub struct {
		Subscription struct {
			ID         string
			Subscriber struct{ ID int64 }
		} `json:"subscription"`
	}
	f.MustDo(t, "POST", "/subscriptions", fmt.Sprintf(`{"address":"ann@example.com","subscriber_list_id":%d,"skip_confirmation_email":true}`, f.ListID), &sub)
	f.SubscriberID, f.Subscription = sub.Subscription.Subscriber.ID, sub.Subscription.ID
	api := a.APIHandler()
	pages := a.FrontendHandler()
	auth := http.Header{"Authorization": {"Bearer " + testrig.Token}}

	// A subscriber with many subscriptions has a large answer.
	for i := range 12 {
		var list struct {
			SubscriberList struct{ ID int64 } `json:"subscriber_list"`
		}
		f.MustDo(t, "POST", "/subscriber-lists", fmt.Sprintf(`{"title":"List %d"}`, i), &list)
		f.MustDo(t, "POST", "/subscriptions", fmt.Sprintf(`{"address":"many@example.com","subscriber_list_id":%d,"skip_confirmation_email":true}`, list.SubscriberList.ID), nil)
	}
	var many struct {
		Subscription struct{ Subscriber struct{ ID int64 } } `json:"subscription"`
	}
	f.MustDo(t, "POST", "/subscriptions", fmt.Sprintf(`{"address":"many@example.com","subscriber_list_id":%d,"skip_confirmation_email":true}`, f.ListID), &many)

	for _, tc := range []struct {
		name       string
		h          http.Handler
		method     string
		target     string
		form       string
		header     http.Header
		compressed bool
		contains   string
	}{
		{"a page", pages, "GET", "/email/manage/authenticate", "", nil, true, "<html"},
		{"an unknown page", pages, "GET", "/nope", "", nil, true, "Page not found"},
		{"a page with a token in its query", pages, "GET", "/email/manage/authenticate/process?token=abcdef", "", nil, false, "<html"},
		{"an unsubscribe link", pages, "GET", "/email/unsubscribe/" + f.Subscription + "?token=abcdef", "", nil, false, "<html"},
		{"a subscription link", pages, "GET", "/email/subscriptions/authenticate?token=abcdef&topic_id=" + f.Slug + "&frequency=daily", "", nil, false, "<html"},
		{"One Login's callback", pages, "GET", "/sign-in/callback?code=abc&state=def", "", nil, false, ""},
		{"a form with a token", pages, "POST", "/email/unsubscribe/" + f.Subscription, url.Values{"token": {"abcdef"}}.Encode(), http.Header{"Origin": {"http://example.com"}, "Sec-Fetch-Site": {"same-origin"}}, false, ""},
		{"large JSON", api, "GET", fmt.Sprintf("/subscribers/%d/subscriptions", many.Subscription.Subscriber.ID), "", auth, true, `"subscriptions"`},
		{"small JSON", api, "GET", fmt.Sprintf("/subscribers/%d/subscriptions", f.SubscriberID), "", auth, false, `"subscriptions"`},
		{"a JSON error", api, "GET", "/subscribers/0/subscriptions", "", auth, false, `"error"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, body := serveEncoded(t, tc.h, tc.method, tc.target, tc.form, tc.header)
			if got := w.Header().Get("Content-Encoding") == "gzip"; got != tc.compressed {
				t.Errorf("%s %s: %d, Content-Encoding %q (%d bytes), want compressed %v",
					tc.method, tc.target, w.Code, w.Header().Get("Content-Encoding"), len(body), tc.compressed)
			}
			if !strings.Contains(strings.Join(w.Header().Values("Vary"), ","), "Accept-Encoding") {
				t.Errorf("%s %s: Vary %q, want Accept-Encoding", tc.method, tc.target, w.Header().Values("Vary"))
			}
			if _, leaked := w.Header()["No-Gzip-Compression"]; leaked {
				t.Errorf("%s %s: the no-compression marker was sent", tc.method, tc.target)
			}
			if !strings.Contains(body, tc.contains) {
				t.Errorf("%s %s: body %.200q does not contain %q", tc.method, tc.target, body, tc.contains)
			}
		})
	}

	// A client that does not ask for compression never gets it.
	req := httptest.NewRequest("GET", "/email/manage/authenticate", nil)
	w := httptest.NewRecorder()
	pages.ServeHTTP(w, req)
	if w.Code != http.StatusOK || w.Header().Get("Content-Encoding") != "" {
		t.Errorf("GET without Accept-Encoding: %d, Content-Encoding %q", w.Code, w.Header().Get("Content-Encoding"))
	}
}
