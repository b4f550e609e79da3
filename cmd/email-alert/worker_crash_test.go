package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"email-alert/internal/testdb"
	"email-alert/mail"
)

// fakeNotify is a GOV.UK Notify that records every accepted email by its
// reference (our outbox id), slowly enough for a worker to die mid-send.
type fakeNotify struct {
	mu       sync.Mutex
	accepted map[string]int
}

func (n *fakeNotify) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v2/notifications/email":
		var body struct {
			Reference string `json:"reference"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Reference == "" {
			http.Error(w, `{"status_code":400}`, http.StatusBadRequest)
			return
		}
		time.Sleep(40 * time.Millisecond)
		n.mu.Lock()
		n.accepted[body.Reference]++
		n.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]string{"id": uuid.NewString()})
	case r.Method == http.MethodGet && r.URL.Path == "/v2/notifications":
		ref := r.URL.Query().Get("reference")
		n.mu.Lock()
		found := n.accepted[ref] > 0
		n.mu.Unlock()
		list := []map[string]string{}
		if found {
			list = append(list, map[string]string{"id": "n-" + ref, "reference": ref})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"notifications": list})
	default:
		http.NotFound(w, r)
	}
}

func (n *fakeNotify) total() (accepted, duplicates int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range n.accepted {
		accepted++
		duplicates += c - 1
	}
	return accepted, duplicates
}

// TestWorkerKilledAndRedisFlushedDeliversEveryEmailOnce runs the real
// worker binary against a fake Notify, kills it with SIGKILL in the middle
// of delivering, restarts it, kills it again and flushes Redis, restarts
// it: every email must reach Notify exactly once.
func TestWorkerKilledAndRedisFlushedDeliversEveryEmailOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the worker binary")
	}
	const emails = 600
	db, dsn := testdb.New(t)
	bin := filepath.Join(t.TempDir(), "email-alert")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}

	// Redis database 14 belongs to this test alone: it is flushed below.
	redisURL := "redis://127.0.0.1:6379/14"
	opt, _ := redis.ParseURL(redisURL)
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	ctx := context.Background()
	if err := rdb.FlushDB(ctx).Err(); err != nil {
		t.Fatalf("Redis: %v", err)
	}

	notify := &fakeNotify{accepted: map[string]int{}}
	server := httptest.NewServer(notify)
	defer server.Close()

	for range emails {
		if _, err := mail.Write(ctx, db, mail.Email{Kind: "test", To: "ann@example.com", Subject: "S", Body: "B"}); err != nil {
			t.Fatal(err)
		}
	}

	env := append(os.Environ(),
		"DATABASE_URL="+dsn,
		"REDIS_URL="+redisURL,
		"EMAIL_DELIVERY=notify",
		"NOTIFY_BASE_URL="+server.URL,
		"NOTIFY_API_KEY=test-"+uuid.NewString()+"-"+uuid.NewString(),
		"NOTIFY_TEMPLATE_ID="+uuid.NewString(),
	)
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "worker")
		cmd.Env = env
		if testing.Verbose() {
			cmd.Stderr = os.Stderr
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	kill := func(cmd *exec.Cmd) {
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
	}
	waitUntil := func(what string, deadline time.Duration, done func() bool) {
		t.Helper()
		end := time.Now().Add(deadline)
		for !done() {
			if time.Now().After(end) {
				accepted, _ := notify.total()
				t.Fatalf("%s: not within %s (%d of %d accepted)", what, deadline, accepted, emails)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	accepted := func(n int) func() bool {
		return func() bool { got, _ := notify.total(); return got >= n }
	}

	worker := start()
	waitUntil("first third", 30*time.Second, accepted(emails/3))
	kill(worker) // mid-delivery: some emails are 'sending', their tasks active in Redis
	var midSend int
	if err := db.Get(&midSend, `SELECT count(*) FROM emails WHERE status = 'sending'`); err != nil {
		t.Fatal(err)
	}
	if midSend == 0 {
		t.Fatal("no email was being sent when the worker was killed: the test proves nothing")
	}
	t.Logf("killed the worker with %d emails mid-send", midSend)

	worker = start()
	waitUntil("second third", 60*time.Second, accepted(2*emails/3))
	kill(worker)
	if err := rdb.FlushDB(ctx).Err(); err != nil { // and Redis loses every task
		t.Fatal(err)
	}

	worker = start()
	defer kill(worker)
	var unfinished int
	waitUntil("all delivered", 3*time.Minute, func() bool {
		if err := db.Get(&unfinished, `SELECT count(*) FROM emails WHERE status <> 'sent'`); err != nil {
			t.Fatal(err)
		}
		return unfinished == 0
	})
	got, duplicates := notify.total()
	if got != emails || duplicates != 0 {
		t.Errorf("Notify accepted %d distinct emails with %d duplicates; want %d exactly once", got, duplicates, emails)
	}
}
