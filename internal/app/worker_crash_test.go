package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
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
	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"
	"github.com/redis/go-redis/v9"

	"email-alert/events"
	"email-alert/internal/testdb"
	"email-alert/mail"
	"email-alert/subscribers"
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
	bin := buildWorker(t)

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
	start := func() *exec.Cmd { return startWorker(t, bin, env) }
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

// buildWorker builds the email-alert binary for a test.
func buildWorker(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "email-alert")
	if out, err := exec.Command("go", "build", "-o", bin, "email-alert/cmd/email-alert").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

func startWorker(t *testing.T, bin string, env []string) *exec.Cmd {
	t.Helper()
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

func kill(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
}

// privateRedis starts a throwaway redis-server on a free port, stopped when
// the test ends, so the test may FLUSHALL without touching anyone else's.
func privateRedis(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not installed (make test installs it): %v", err)
	}
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(path, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kill(cmd) })
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	for deadline := time.Now().Add(10 * time.Second); rdb.Ping(context.Background()).Err() != nil; {
		if time.Now().After(deadline) {
			t.Fatal("private redis-server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "redis://" + addr + "/0"
}

// TestWorkerKilledAndFlushallAppliesEveryEventOnce stores account events
// for many linked subscribers, runs the worker binary, SIGKILLs it while
// it applies them, wipes Redis with FLUSHALL, and restarts it: every event
// must end applied, once, with the state it describes.
func TestWorkerKilledAndFlushallAppliesEveryEventOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the worker binary")
	}
	const accounts = 1500
	ctx := context.Background()
	db, dsn := testdb.New(t)
	bin := buildWorker(t)
	redisURL := privateRedis(t)
	opt, _ := redis.ParseURL(redisURL)
	rdb := redis.NewClient(opt)
	defer rdb.Close()

	store := subscribers.NewStore(db, nil)
	list, _, err := store.FindOrCreateList(ctx, subscribers.NewList{Title: "News", Slug: "news"})
	if err != nil {
		t.Fatal(err)
	}
	// Linked subscribers, then one event each: even ones change email,
	// odd ones delete the account.
	seedLinkedAccounts(t, db, accounts, "urn:test:", list.ID)
	inbox := events.NewInbox(db, asynq.NewClientFromRedisClient(rdb), defaultNamespace+":events")
	for i := 1; i <= accounts; i++ {
		e := events.Event{ID: fmt.Sprintf("event-%d", i), Sub: fmt.Sprintf("urn:test:%d", i), OccurredAt: time.Now()}
		if i%2 == 0 {
			e.Kind, e.EventType = events.KindEmailChanged, events.EventIdentifierChanged
			e.Payload, _ = json.Marshal(events.EmailChange{Email: fmt.Sprintf("new%d@example.com", i), EmailVerified: true})
		} else {
			e.Kind, e.EventType, e.Payload = events.KindDeleted, events.EventAccountPurged, []byte(`{}`)
		}
		if _, err := inbox.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
	}

	env := append(os.Environ(), "DATABASE_URL="+dsn, "REDIS_URL="+redisURL)
	done := func() int {
		var n int
		if err := db.Get(&n, `SELECT count(*) FROM account_events WHERE status = 'done'`); err != nil {
			t.Fatal(err)
		}
		return n
	}
	wait := func(what string, limit time.Duration, want int) {
		t.Helper()
		for end := time.Now().Add(limit); done() < want; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("%s: %d of %d events done after %s", what, done(), accounts, limit)
			}
		}
	}

	worker := startWorker(t, bin, env)
	wait("first third", 60*time.Second, accounts/3)
	kill(worker)
	if n := done(); n >= accounts {
		t.Fatal("every event was done before the kill: the test proves nothing")
	}
	t.Logf("killed the worker with %d of %d events done", done(), accounts)
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}

	worker = startWorker(t, bin, env)
	defer kill(worker)
	wait("all", 3*time.Minute, accounts)

	var wrong int
	if err := db.Get(&wrong, `SELECT count(*) FROM account_events WHERE outcome <> 'applied' OR status <> 'done'`); err != nil {
		t.Fatal(err)
	}
	if wrong != 0 {
		t.Errorf("%d events not applied", wrong)
	}
	checks := map[string]string{
		"email changes applied": `SELECT count(*) = $1 / 2 FROM subscribers
			WHERE address = 'new' || substr(govuk_account_id, 10) || '@example.com'`,
		"deleted accounts unlinked with subscriptions ended once": `SELECT count(*) = $1 / 2 FROM subscriptions
			WHERE ended_reason = 'account_deleted'`,
		"one tombstone per deletion":             `SELECT count(*) = $1 / 2 FROM deleted_accounts`,
		"no subscription created or ended twice": `SELECT count(*) = $1 FROM subscriptions`,
	}
	for name, query := range checks {
		var ok bool
		if err := db.Get(&ok, query, accounts); err != nil || !ok {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// seedLinkedAccounts adds n subscribers, person<i>@example.com linked to the
// account <prefix><i>, each subscribed daily to list.
func seedLinkedAccounts(t *testing.T, db *sqlx.DB, n int, prefix string, list int64) {
	t.Helper()
	if _, err := db.Exec(`
		WITH p AS (
			INSERT INTO subscribers (address, govuk_account_id, linked_at)
			SELECT 'person' || i || '@example.com', $2 || i, now() FROM generate_series(1, $1) i
			RETURNING id)
		INSERT INTO subscriptions (subscriber_id, subscriber_list_id, frequency, source)
		SELECT id, $3, 'daily', 'user_signed_up' FROM p`, n, prefix, list); err != nil {
		t.Fatal(err)
	}
}
