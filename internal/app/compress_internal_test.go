package app

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkCompressorSmallJSON is what the compression wrapper adds to an
// answer below compressMinSize, the size of the hot read's. It is in
// package app for the wrapper (newCompressor) alone, which nothing exports.
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
