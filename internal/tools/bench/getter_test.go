package main

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestGetterReadsEachKindOfResponse(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer secret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/small": // net/http sets Content-Length
			_, _ = w.Write([]byte(`{"ok":true}`))
		case "/large": // more than net/http buffers: chunked
			_, _ = w.Write([]byte(strings.Repeat("x", 10_000)))
			w.(http.Flusher).Flush()
			_, _ = w.Write([]byte(strings.Repeat("y", 5_000)))
		case "/close":
			w.Header().Set("Connection", "close")
			_, _ = w.Write([]byte("bye"))
		default:
			http.NotFound(w, r)
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	g := newGetter(strings.TrimPrefix(srv.URL, "http://"), "secret")

	for _, tc := range []struct {
		path      string
		status    int
		wantConns int32 // connections opened so far
	}{
		{"/small", 200, 1},
		{"/large", 200, 1},
		{"/small", 200, 1},
		{"/missing", 404, 1},
		{"/close", 200, 1},
		{"/small", 200, 2}, // the server closed the connection: a new one
		{"/large", 200, 2},
	} {
		status, err := g.get([]byte(tc.path))
		if err != nil || status != tc.status {
			t.Fatalf("GET %s = %d, %v; want %d", tc.path, status, err, tc.status)
		}
		if got := conns.Load(); got != tc.wantConns {
			t.Fatalf("after GET %s: %d connections opened, want %d", tc.path, got, tc.wantConns)
		}
	}

	if status, err := newGetter(strings.TrimPrefix(srv.URL, "http://"), "").get([]byte("/small")); err != nil || status != 401 {
		t.Fatalf("without the token: %d, %v; want 401", status, err)
	}
}

func TestGetterReportsAClosedServer(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := strings.TrimPrefix(srv.URL, "http://")
	srv.Close()
	if _, err := newGetter(addr, "").get([]byte("/")); err == nil {
		t.Fatal("GET from a closed server: no error")
	}
}

func TestGetterPostsJSON(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil || r.Method != "POST" || r.Header.Get("Content-Type") != "application/json" ||
			r.Header.Get("Authorization") != "Bearer secret" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(body) // echoed: the next request must start after it
	}))
	defer srv.Close()
	g := newGetter(strings.TrimPrefix(srv.URL, "http://"), "secret")
	for _, body := range []string{`{"a":1}`, `{"b":"two"}`, `{}`} {
		if status, err := g.post([]byte("/things"), []byte(body)); err != nil || status != http.StatusCreated {
			t.Fatalf("POST %s = %d, %v; want 201", body, status, err)
		}
	}
	if status, err := g.get([]byte("/things")); err != nil || status != http.StatusBadRequest {
		t.Fatalf("GET after POSTs = %d, %v; want 400", status, err)
	}
}
