package app

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"email-alert/internal/testkit/testdb"
)

func TestRunRefusesAnOutOfDateSchema(t *testing.T) {
	t.Parallel()
	_, dbURL := testdb.Empty(t)
	env := map[string]string{"DATABASE_URL": dbURL, "REDIS_URL": testdb.RedisURL()}
	for _, command := range []string{"api", "frontend", "worker", "all"} {
		err := run(context.Background(), []string{command}, func(k string) string { return env[k] }, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "email-alert migrate") {
			t.Errorf("%s on an empty schema: %v, want a refusal that says to migrate", command, err)
		}
	}
}

func TestRunUsage(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"serve"}, func(string) string { return "" }, &out); err == nil {
		t.Error("unknown command: no error")
	}
	if !strings.Contains(out.String(), "usage: email-alert") {
		t.Errorf("unknown command printed %q, want the usage", out.String())
	}
}

func TestRunBadConfigStopsStart(t *testing.T) {
	env := map[string]string{"API_ADDR": "nonsense"}
	err := run(context.Background(), []string{"api"}, func(k string) string { return env[k] }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "API_ADDR") {
		t.Errorf("err = %v, want one naming API_ADDR", err)
	}
}

// TestRunMigratesServesAndShutsDown runs the real process loop: migrate,
// then all, answer on both listeners, then stop cleanly when cancelled (as
// on SIGTERM).
func TestRunMigratesServesAndShutsDown(t *testing.T) {
	t.Parallel()
	_, dbURL := testdb.Empty(t)
	env := map[string]string{
		"DATABASE_URL":  dbURL,
		"REDIS_URL":     testdb.RedisURL(),
		"API_ADDR":      freeAddr(t),
		"FRONTEND_ADDR": freeAddr(t),
	}
	getenv := func(k string) string { return env[k] }
	// Logs go to io.Discard: run sets the process-wide slog default, which
	// tests running in parallel would otherwise share a buffer through.
	if err := run(context.Background(), []string{"migrate"}, getenv, io.Discard); err != nil {
		t.Fatalf("migrate: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"all"}, getenv, io.Discard) }()
	for _, addr := range []string{env["API_ADDR"], env["FRONTEND_ADDR"]} {
		waitFor(t, "http://"+addr+"/healthcheck/ready", done)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run after cancel: %v", err)
		}
	case <-time.After(shutdownGrace + 5*time.Second):
		t.Fatal("run did not return after cancel")
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitFor polls url until it answers 200, failing if run returns first.
func waitFor(t *testing.T, url string, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("run returned early: %v", err)
		default:
		}
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never answered 200", url)
}
