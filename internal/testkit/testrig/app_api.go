package testrig

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"email-alert/subscribers"
)

// API drives an API router in memory, with Token. NewAPI and NewAPIOn
// also make a list, a subscriber and their subscription through it, whose
// ids request paths and bodies refer to as {list}, {slug}, {subscriber},
// {subscription} and {subscription-hex}; &API{Router: r} makes none.
type API struct {
	Router       http.Handler
	ListID       int64
	Slug         string
	SubscriberID int64
	Subscription string
}

// NewAPI is the fixture on the API of a fresh NewAPIApp.
func NewAPI(t testing.TB) *API {
	t.Helper()
	return NewAPIOn(t, NewAPIApp(t).APIRouter())
}

// NewAPIOn makes the fixture through router r: the list "Tax news" (url
// /tax), a second list "Alpha", and ann@example.com's daily subscription
// to the first.
func NewAPIOn(t testing.TB, r http.Handler) *API {
	t.Helper()
	f := &API{Router: r}
	var list struct {
		SubscriberList subscribers.List `json:"subscriber_list"`
	}
	f.MustDo(t, "POST", "/subscriber-lists", `{"title":"Tax news","url":"/tax"}`, &list)
	f.ListID, f.Slug = list.SubscriberList.ID, list.SubscriberList.Slug
	f.MustDo(t, "POST", "/subscriber-lists", `{"title":"Alpha"}`, nil)
	var sub struct {
		Subscription subscribers.Subscription `json:"subscription"`
	}
	f.MustDo(t, "POST", "/subscriptions",
		fmt.Sprintf(`{"address":"ann@example.com","subscriber_list_id":%d,"frequency":"daily"}`, f.ListID), &sub)
	f.SubscriberID, f.Subscription = sub.Subscription.Subscriber.ID, sub.Subscription.ID.String()
	return f
}

// Expand replaces the fixture's placeholders in s.
func (f *API) Expand(s string) string {
	return strings.NewReplacer(
		"{list}", fmt.Sprint(f.ListID),
		"{slug}", f.Slug,
		"{subscriber}", fmt.Sprint(f.SubscriberID),
		"{subscription}", f.Subscription,
		"{subscription-hex}", strings.ReplaceAll(f.Subscription, "-", ""),
	).Replace(s)
}

// Do sends one request, placeholders expanded, with Token and (for a
// body) a JSON Content-Type; header is set on top.
func (f *API) Do(method, path, body string, header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, f.Expand(path), strings.NewReader(f.Expand(body)))
	req.Header.Set("Authorization", "Bearer "+Token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	w := httptest.NewRecorder()
	f.Router.ServeHTTP(w, req)
	return w
}

// MustDo is Do that fails the test on any status but 200 and decodes the
// response into out (unless nil).
func (f *API) MustDo(t testing.TB, method, path, body string, out any) {
	t.Helper()
	w := f.Do(method, path, body, nil)
	if w.Code != http.StatusOK {
		t.Fatalf("%s %s: %d %s", method, path, w.Code, w.Body)
	}
	if out != nil {
		if err := json.Unmarshal(w.Body.Bytes(), out); err != nil {
			t.Fatal(err)
		}
	}
}

// Get reads a dotted path ("subscription.subscriber_list.slug", with
// numbers indexing arrays) from a decoded JSON body, or nil.
func Get(body any, path string) any {
	for _, key := range strings.Split(path, ".") {
		switch v := body.(type) {
		case map[string]any:
			body = v[key]
		case []any:
			var i int
			fmt.Sscan(key, &i)
			if i >= len(v) {
				return nil
			}
			body = v[i]
		default:
			return nil
		}
	}
	return body
}

// ContentChangeBody is a content change (POST /content-changes) tagged
// with the topics vat and income-tax, from the organisation hmrc.
const ContentChangeBody = `{"content_id":"5f9c6c15-7631-11e4-a3cb-005056011aef","title":"Tax rules",
	"base_path":"/government/news/tax-rules","change_note":"First published.","public_updated_at":"2026-12-01T10:05:00Z",
	"document_type":"news_story","email_document_supertype":"announcements","government_document_supertype":"news",
	"publishing_app":"whitehall","tags":{"topics":["vat","income-tax"]},"links":{"organisations":["hmrc"]}}`
