package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"

	"email-alert/events"
	"email-alert/internal/app"
	"email-alert/internal/testkit/testrig/proc"
	"email-alert/mail"
	"email-alert/subscribers"
)

// TestWorkerKilledAndRedisFlushedDeliversEveryEmailOnce runs the real
// worker binary against a fake Notify, kills it with SIGKILL in the middle
// of delivering, restarts it, kills it again and flushes Redis, restarts
// it: every email must reach Notify exactly once.
func TestWorkerKilledAndRedisFlushedDeliversEveryEmailOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the worker binary")
	}
	const emails = 600
	db, dsn := proc.Schema(t)
	// A Redis of this test alone: it is flushed below.
	rs := proc.StartRedis(t)
	rdb := rs.Client(t)
	ctx := context.Background()
	notify := proc.StartNotify(t)

	for range emails {
		if _, err := mail.Write(ctx, db, mail.Email{Kind: "test", To: "ann@example.com", Subject: "S", Body: "B"}); err != nil {
			t.Fatal(err)
		}
	}

	env := proc.NewEnv(t, append(notify.Env(), "DATABASE_URL="+dsn, "REDIS_URL="+rs.URL())...)
	start := func() *proc.Process { return env.Start("worker") }
	waitUntil := func(what string, deadline time.Duration, done func() bool) {
		t.Helper()
		end := time.Now().Add(deadline)
		for !done() {
			if time.Now().After(end) {
				accepted, _ := notify.Total()
				t.Fatalf("%s: not within %s (%d of %d accepted)", what, deadline, accepted, emails)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	accepted := func(n int) func() bool {
		return func() bool { got, _ := notify.Total(); return got >= n }
	}

	worker := start()
	waitUntil("first third", 30*time.Second, accepted(emails/3))
	worker.Kill() // mid-delivery: some emails are 'sending', their tasks active in Redis
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
	worker.Kill()
	if err := rdb.FlushAll(ctx).Err(); err != nil { // and Redis loses every task
		t.Fatal(err)
	}

	start() // stopped when the test ends
	var unfinished int
	waitUntil("all delivered", 3*time.Minute, func() bool {
		if err := db.Get(&unfinished, `SELECT count(*) FROM emails WHERE status <> 'sent'`); err != nil {
			t.Fatal(err)
		}
		return unfinished == 0
	})
	got, duplicates := notify.Total()
	if got != emails || duplicates != 0 {
		t.Errorf("Notify accepted %d distinct emails with %d duplicates; want %d exactly once", got, duplicates, emails)
	}
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
	db, dsn := proc.Schema(t)
	rs := proc.StartRedis(t)
	rdb := rs.Client(t)

	store := subscribers.NewStore(db, nil)
	list, _, err := store.FindOrCreateList(ctx, subscribers.NewList{Title: "News", Slug: "news"})
	if err != nil {
		t.Fatal(err)
	}
	// Linked subscribers, then one event each: even ones change email,
	// odd ones delete the account.
	seedLinkedAccounts(t, db, accounts, "urn:test:", list.ID)
	inbox := events.NewInbox(db, asynq.NewClientFromRedisClient(rdb), app.Namespace+":events")
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

	env := proc.NewEnv(t, "DATABASE_URL="+dsn, "REDIS_URL="+rs.URL())
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

	worker := env.Start("worker")
	wait("first third", 60*time.Second, accounts/3)
	worker.Kill()
	if n := done(); n >= accounts {
		t.Fatal("every event was done before the kill: the test proves nothing")
	}
	t.Logf("killed the worker with %d of %d events done", done(), accounts)
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}

	env.Start("worker")
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
