package app_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"email-alert/internal/testkit/testrig"
)

// BenchmarkSubscriberSubscriptions is the hot read, GET
// /subscribers/:id/subscriptions of a subscriber with three subscriptions
// (as make bench seeds them), through the API handler the service serves,
// from a client that accepts gzip as GOV.UK's API clients do.
func BenchmarkSubscriberSubscriptions(b *testing.B) {
	h := testrig.NewApp(b, nil).APIHandler()
	do := func(method, path, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, nil)
		if body != "" {
			req = httptest.NewRequest(method, path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Authorization", "Bearer "+testrig.Token)
		req.Header.Set("Accept-Encoding", "gzip, deflate")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	for i := range 3 {
		if w := do("POST", "/subscriber-lists", fmt.Sprintf(`{"title":"Benchmark list %d","url":"/bench/%d"}`, i, i)); w.Code != http.StatusOK {
			b.Fatalf("list: %d %s", w.Code, w.Body)
		}
		body := fmt.Sprintf(`{"address":"user777@bench.example","subscriber_list_id":%d,"frequency":"daily","skip_confirmation_email":true}`, i+1)
		if w := do("POST", "/subscriptions", body); w.Code != http.StatusOK {
			b.Fatalf("subscribe: %d %s", w.Code, w.Body)
		}
	}
	w := do("GET", "/subscribers/1/subscriptions", "")
	if w.Code != http.StatusOK {
		b.Fatalf("read: %d %s", w.Code, w.Body)
	}
	for b.Loop() {
		if w := do("GET", "/subscribers/1/subscriptions", ""); w.Code != http.StatusOK {
			b.Fatalf("read: %d", w.Code)
		}
	}
	b.ReportMetric(float64(w.Body.Len()), "resp-bytes")
}

// BenchmarkSubscribe is POST /subscriptions for a known address, through
// the API handler the service serves, each to a list it is not on yet: the
// subscription, its unsubscribe token and its "You've subscribed" email
// (make bench's subscribe workload). Its allocations are the api's part.
func BenchmarkSubscribe(b *testing.B) {
	h := testrig.NewApp(b, nil).APIHandler()
	do := func(path, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+testrig.Token)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	const lists = 200
	for i := range lists {
		if w := do("/subscriber-lists", fmt.Sprintf(`{"title":"Benchmark list %d","url":"/bench/%d"}`, i, i)); w.Code != http.StatusOK {
			b.Fatalf("list: %d %s", w.Code, w.Body)
		}
	}
	n := 0
	for b.Loop() {
		// A known address (created by its first subscription) on a new list.
		body := fmt.Sprintf(`{"address":"user%d@bench.example","subscriber_list_id":%d,"frequency":"daily"}`, n/lists, n%lists+1)
		if w := do("/subscriptions", body); w.Code != http.StatusOK {
			b.Fatalf("subscribe: %d %s", w.Code, w.Body)
		}
		n++
	}
}
