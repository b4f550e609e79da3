package app

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"email-alert/internal/config"
	"email-alert/internal/testkit/testdb"
)

// BenchmarkSubscriberSubscriptions is the hot read, GET
// /subscribers/:id/subscriptions of a subscriber with three subscriptions
// (as make bench seeds them), through the API handler the service serves,
// from a client that accepts gzip as GOV.UK's API clients do.
func BenchmarkSubscriberSubscriptions(b *testing.B) {
	db, dbURL := testdb.New(b)
	gin.SetMode(gin.TestMode)
	all := map[string]string{"DATABASE_URL": dbURL, "REDIS_URL": testdb.RedisURL(), "API_TOKENS": testToken}
	cfg, err := config.Parse(func(k string) string { return all[k] })
	if err != nil {
		b.Fatal(err)
	}
	a, err := newApp(cfg, db, testdb.Redis(b), testdb.Queue(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(a.close)
	h := apiHandler(a)
	do := func(method, path, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, nil)
		if body != "" {
			req = httptest.NewRequest(method, path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Authorization", "Bearer "+testToken)
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

// BenchmarkCompressorSmallJSON is what the compression wrapper adds to an
// answer below compressMinSize, the size of the hot read's.
func BenchmarkCompressorSmallJSON(b *testing.B) {
	body := []byte(`{"subscriber":{},"subscriptions":[` + strings.Repeat(`"x",`, 470) + `"x"]}`)
	bare := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write(body)
	})
	compress, err := newCompressor()
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/subscribers/1/subscriptions", nil)
	req.Header.Set("Accept-Encoding", "gzip, deflate")
	for name, h := range map[string]http.Handler{"bare": bare, "wrapped": compress(bare)} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Header().Get("Content-Encoding") != "" {
					b.Fatal("compressed")
				}
			}
		})
	}
}
