package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"email-alert/internal/testkit/testrig"
	"email-alert/internal/testkit/testrig/proc"
)

// TestBulkUnsubscribeKilledAndFlushedEndsEveryoneOnce runs the real worker
// binary on a bulk unsubscribe of a list of 50,000 subscribers, with a
// message. It SIGKILLs the worker in the middle of the job, flushes Redis,
// and lets two workers finish. Every subscription of the list ends exactly
// once (one audit entry each), every subscriber gets the message exactly
// once, and their other list is untouched.
func TestBulkUnsubscribeKilledAndFlushedEndsEveryoneOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the worker binary")
	}
	const n = 50000
	ctx := context.Background()
	db, dsn := proc.Schema(t)
	rs := proc.StartRedis(t)
	rdb := rs.Client(t)
	notify := proc.StartNotify(t)

	a := testrig.NewAppOn(t, db, map[string]string{"DATABASE_URL": dsn})
	f := &testrig.API{Router: a.APIRouter()}
	var closing, other map[string]any
	f.MustDo(t, "POST", "/subscriber-lists", `{"title":"VAT closing"}`, &closing)
	f.MustDo(t, "POST", "/subscriber-lists", `{"title":"VAT staying"}`, &other)
	// Every subscriber on the closing list, at one of the three
	// frequencies (the batches walk them in that order); every tenth on
	// the other list too.
	if _, err := db.Exec(`
		WITH p AS (
			INSERT INTO subscribers (address) SELECT 'bulk' || i || '@example.com' FROM generate_series(1, $1) i
			RETURNING id),
		closing AS (
			INSERT INTO subscriptions (subscriber_id, subscriber_list_id, frequency, source)
			SELECT id, $2, (ARRAY['immediately', 'daily', 'weekly'])[1 + id % 3], 'user_signed_up' FROM p)
		INSERT INTO subscriptions (subscriber_id, subscriber_list_id, frequency, source)
		SELECT id, $3, 'weekly', 'user_signed_up' FROM p WHERE id % 10 = 0`,
		n, testrig.Get(closing, "subscriber_list.id"), testrig.Get(other, "subscriber_list.id")); err != nil {
		t.Fatal(err)
	}
	slug, _ := testrig.Get(closing, "subscriber_list.slug").(string)
	body := `{"body":"This list is closing.\nRead GOV.UK for news.","sender_message_id":"` + uuid.NewString() + `"}`
	if w := f.Do("POST", "/subscriber-lists/"+slug+"/bulk-unsubscribe", body, nil); w.Code != 202 {
		t.Fatalf("bulk unsubscribe: %d %s", w.Code, w.Body)
	}

	var stats struct {
		Ended   int    `db:"ended"`
		Emailed int    `db:"emailed"`
		Status  string `db:"status"`
	}
	read := func() {
		t.Helper()
		if err := db.Get(&stats, `SELECT
			(SELECT count(*) FROM subscriptions WHERE ended_reason = 'bulk_unsubscribed') AS ended,
			(SELECT count(*) FROM emails WHERE kind = 'bulk_unsubscribed') AS emailed,
			(SELECT status FROM bulk_unsubscribes) AS status`); err != nil {
			t.Fatal(err)
		}
	}
	waitFor := func(what string, limit time.Duration, done func() bool) {
		t.Helper()
		for end := time.Now().Add(limit); !done(); time.Sleep(2 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("%s: not within %s (%+v)", what, limit, stats)
			}
		}
	}
	env := proc.NewEnv(t, append(notify.Env(), "DATABASE_URL="+dsn, "REDIS_URL="+rs.URL())...)
	worker := env.Start("worker")
	waitFor("bulk unsubscribe under way", 2*time.Minute, func() bool { read(); return stats.Ended >= 5000 })
	worker.Kill()
	read()
	if stats.Status == "done" {
		t.Fatal("the bulk unsubscribe was finished before the kill: the test proves nothing")
	}
	t.Logf("killed the worker with %d of %d subscriptions ended", stats.Ended, n)
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	for range 2 { // two workers finish it
		env.Start("worker")
	}
	waitFor("bulk unsubscribe finished", 3*time.Minute, func() bool { read(); return stats.Status == "done" })

	var got struct {
		Active      int `db:"active"`
		Ended       int `db:"ended"`
		Audited     int `db:"audited"`
		AuditedOnce int `db:"audited_once"`
		Emails      int `db:"emails"`
		Addresses   int `db:"addresses"`
		WrongBody   int `db:"wrong_body"`
		OtherActive int `db:"other_active"`
		JobEnded    int `db:"job_ended"`
		JobEmailed  int `db:"job_emailed"`
	}
	err := db.Get(&got, `SELECT
		(SELECT count(*) FROM subscriptions WHERE subscriber_list_id = $1 AND ended_at IS NULL) AS active,
		(SELECT count(*) FROM subscriptions WHERE subscriber_list_id = $1 AND ended_reason = 'bulk_unsubscribed') AS ended,
		(SELECT count(*) FROM subscriber_audit WHERE details->>'reason' = 'bulk_unsubscribed') AS audited,
		(SELECT count(DISTINCT subscriber_id) FROM subscriber_audit WHERE details->>'reason' = 'bulk_unsubscribed') AS audited_once,
		(SELECT count(*) FROM emails WHERE kind = 'bulk_unsubscribed') AS emails,
		(SELECT count(DISTINCT address) FROM emails WHERE kind = 'bulk_unsubscribed') AS addresses,
		(SELECT count(*) FROM emails WHERE kind = 'bulk_unsubscribed' AND body <> '' AND body NOT LIKE 'This list is closing.' || chr(10) || 'Read GOV.UK for news.' || chr(10) || '%') AS wrong_body,
		(SELECT count(*) FROM subscriptions WHERE subscriber_list_id = $2 AND ended_at IS NULL) AS other_active,
		(SELECT ended FROM bulk_unsubscribes) AS job_ended,
		(SELECT emailed FROM bulk_unsubscribes) AS job_emailed`,
		testrig.Get(closing, "subscriber_list.id"), testrig.Get(other, "subscriber_list.id"))
	if err != nil {
		t.Fatal(err)
	}
	if got.Active != 0 || got.Ended != n || got.Audited != n || got.AuditedOnce != n {
		t.Errorf("subscriptions: %d active, %d ended, %d audit entries for %d subscribers; want 0, %d, once each",
			got.Active, got.Ended, got.Audited, got.AuditedOnce, n)
	}
	if got.Emails != n || got.Addresses != n || got.WrongBody != 0 {
		t.Errorf("emails: %d to %d addresses, %d with another body; want %d, once each", got.Emails, got.Addresses, got.WrongBody, n)
	}
	if got.OtherActive != n/10 {
		t.Errorf("the other list has %d active subscriptions, want %d untouched", got.OtherActive, n/10)
	}
	if got.JobEnded != n || got.JobEmailed != n {
		t.Errorf("the job counted %d ended and %d emailed, want %d each", got.JobEnded, got.JobEmailed, n)
	}
}
