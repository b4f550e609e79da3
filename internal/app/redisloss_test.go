package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"email-alert/events"
	"email-alert/internal/app"
	"email-alert/internal/testkit/testrig/proc"
	"email-alert/mail"
	"email-alert/subscribers"
)

// TestRedisFlushedRecoversInSeconds runs the real worker binary with
// pending emails (transactional and bulk) and account events queued in
// Redis, FLUSHALLs Redis, and checks that every email and every event is
// then processed within 10 s, each once, transactional emails before bulk
// ones: the worker notices the loss and queues the work again at once,
// rather than at the minute sweep. PostgreSQL table locks held by the test
// keep the work from finishing until Redis has been flushed.
func TestRedisFlushedRecoversInSeconds(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the worker binary")
	}
	const (
		transactional = 200
		bulk          = 200
		accounts      = 400
	)
	ctx := context.Background()
	db, dsn := proc.Schema(t)
	rs := proc.StartRedis(t)
	rdb := rs.Client(t)
	notify := proc.StartNotify(t)

	store := subscribers.NewStore(db, nil)
	list, _, err := store.FindOrCreateList(ctx, subscribers.NewList{Title: "News", Slug: "news"})
	if err != nil {
		t.Fatal(err)
	}
	seedLinkedAccounts(t, db, accounts, "urn:loss:", list.ID)
	inbox := events.NewInbox(db, asynq.NewClientFromRedisClient(rdb), app.Namespace+":events")
	for i := 1; i <= accounts; i++ {
		payload, _ := json.Marshal(events.EmailChange{Email: fmt.Sprintf("new%d@example.com", i), EmailVerified: true})
		if _, err := inbox.Record(ctx, events.Event{
			ID: fmt.Sprintf("event-%d", i), Sub: fmt.Sprintf("urn:loss:%d", i), OccurredAt: time.Now(),
			Kind: events.KindEmailChanged, EventType: events.EventIdentifierChanged, Payload: payload,
		}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range transactional + bulk {
		e := mail.Email{Kind: mail.KindSignIn, To: fmt.Sprintf("t%d@example.com", i), Subject: "S", Body: "B"}
		if i >= transactional {
			e.Kind, e.Priority = mail.KindSubscribed, mail.Normal // bulk, but with its body: alert kinds are rendered from a content change
		}
		if _, err := mail.Write(ctx, db, e); err != nil {
			t.Fatal(err)
		}
	}

	// Nothing can finish while the test holds these locks: deliveries and
	// events wait at their first write, with their tasks active or pending
	// in Redis.
	hold := db.MustBegin()
	defer func() { _ = hold.Rollback() }()
	if _, err := hold.Exec(`LOCK TABLE emails, account_events IN EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	proc.NewEnv(t, append(notify.Env(),
		"DATABASE_URL="+dsn,
		"REDIS_URL="+rs.URL(),
		// One task at a time: the order tasks are dequeued in is then
		// the order they run in, which is what the check of priority
		// below looks at (with free slots, bulk batches run beside the
		// transactional ones, and their send times interleave).
		"WORKER_CONCURRENCY=1",
	)...).Start("worker")
	// Every email and event is in a task in Redis, pending or active (a
	// worker holds it, waiting for the locks), before the flush.
	inspector := asynq.NewInspectorFromRedisClient(rdb)
	queued := func() int {
		n := 0
		for _, q := range []string{"email", "events", "bulk"} {
			pending, _ := inspector.ListPendingTasks(app.Namespace+":"+q, asynq.PageSize(1000))
			active, _ := inspector.ListActiveTasks(app.Namespace+":"+q, asynq.PageSize(1000))
			for _, task := range append(pending, active...) {
				var ids struct {
					Emails []string `json:"email_ids"`
					Events []string `json:"event_ids"`
				}
				if err := json.Unmarshal(task.Payload, &ids); err != nil {
					t.Fatalf("task %s: %v", task.Type, err)
				}
				n += len(ids.Emails) + len(ids.Events)
			}
		}
		return n
	}
	for deadline := time.Now().Add(30 * time.Second); queued() < transactional+bulk+accounts; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d emails and events queued after 30 s", queued(), transactional+bulk+accounts)
		}
	}
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	flushed := time.Now()
	if err := hold.Rollback(); err != nil {
		t.Fatal(err)
	}

	counts := func() (sent, done int) {
		if err := db.Get(&sent, `SELECT count(*) FROM emails WHERE status = 'sent'`); err != nil {
			t.Fatal(err)
		}
		if err := db.Get(&done, `SELECT count(*) FROM account_events WHERE status = 'done'`); err != nil {
			t.Fatal(err)
		}
		return sent, done
	}
	for {
		sent, done := counts()
		if sent == transactional+bulk && done == accounts {
			t.Logf("every email and event processed %s after FLUSHALL", time.Since(flushed).Round(time.Millisecond))
			break
		}
		if time.Since(flushed) > 10*time.Second {
			t.Fatalf("10 s after FLUSHALL: %d of %d emails sent, %d of %d events done",
				sent, transactional+bulk, done, accounts)
		}
		time.Sleep(50 * time.Millisecond)
	}

	if got, duplicates := notify.Total(); got != transactional+bulk || duplicates != 0 {
		t.Errorf("Notify accepted %d distinct emails with %d duplicates; want %d exactly once", got, duplicates, transactional+bulk)
	}
	var applied, moved int
	if err := db.Get(&applied, `SELECT count(*) FROM account_events WHERE outcome = 'applied'`); err != nil {
		t.Fatal(err)
	}
	if err := db.Get(&moved, `SELECT count(*) FROM subscribers WHERE address = 'new' || substr(govuk_account_id, 10) || '@example.com'`); err != nil {
		t.Fatal(err)
	}
	if applied != accounts || moved != accounts {
		t.Errorf("%d events applied, %d addresses changed; want %d each", applied, moved, accounts)
	}
	var bulkFirst int
	if err := db.Get(&bulkFirst, `
		SELECT count(*) FROM emails
		WHERE priority = 'normal' AND sent_at < (SELECT max(sent_at) FROM emails WHERE priority = 'transactional')`); err != nil {
		t.Fatal(err)
	}
	// Once Redis is flushed, every transactional batch is dequeued before
	// any bulk one. At most the one batch already in flight at the flush
	// (waiting for the test's locks) can be bulk: up to mail.BatchSize.
	t.Logf("%d bulk emails sent before the last transactional one", bulkFirst)
	if bulkFirst > mail.BatchSize {
		t.Errorf("%d of %d bulk emails went out before the last transactional one", bulkFirst, bulk)
	}
}
