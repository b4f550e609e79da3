package app_test

import (
	"context"
	"testing"
	"time"

	"email-alert/internal/testkit/testrig"
	"email-alert/internal/testkit/testrig/proc"
)

// TestAlertsKilledAndFlushedWriteEveryEmailOnce runs the real worker
// binary on a content change matching a list of 50,000 immediate and a
// list of 50,000 daily subscribers. It SIGKILLs the worker in the middle
// of the fan-out, flushes Redis, and lets two workers finish; then does
// the same in the middle of the digest run. Every subscriber ends with
// exactly one alert and one digest email.
func TestAlertsKilledAndFlushedWriteEveryEmailOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the worker binary")
	}
	const n = 50000
	ctx := context.Background()
	db, dsn := proc.Schema(t)
	rs := proc.StartRedis(t)
	rdb := rs.Client(t)
	// A slow Notify: delivery goes on beside generation without taking
	// the machine.
	notify := proc.StartNotify(t)

	a := testrig.NewAppOn(t, db, map[string]string{"DATABASE_URL": dsn})
	f := &testrig.API{Router: a.APIRouter()}
	var immediate, daily map[string]any
	f.MustDo(t, "POST", "/subscriber-lists", `{"title":"VAT now","tags":{"topics":["vat"]}}`, &immediate)
	f.MustDo(t, "POST", "/subscriber-lists", `{"title":"VAT daily","links":{"organisations":["hmrc"]}}`, &daily)
	for _, l := range []struct {
		list      any
		frequency string
	}{{testrig.Get(immediate, "subscriber_list.id"), "immediately"}, {testrig.Get(daily, "subscriber_list.id"), "daily"}} {
		if _, err := db.Exec(`
			WITH p AS (
				INSERT INTO subscribers (address) SELECT $3 || i || '@example.com' FROM generate_series(1, $1) i
				RETURNING id)
			INSERT INTO subscriptions (subscriber_id, subscriber_list_id, frequency, source, created_at)
			SELECT id, $2, $3, 'user_signed_up', now() - interval '1 hour' FROM p`, n, l.list, l.frequency); err != nil {
			t.Fatal(err)
		}
	}
	if w := f.Do("POST", "/content-changes", testrig.ContentChangeBody, nil); w.Code != 202 {
		t.Fatalf("content change: %d %s", w.Code, w.Body)
	}

	env := proc.NewEnv(t, append(notify.Env(), "DATABASE_URL="+dsn, "REDIS_URL="+rs.URL())...)
	count := func(kind string) int {
		var c int
		if err := db.Get(&c, `SELECT count(*) FROM emails WHERE kind = $1`, kind); err != nil {
			t.Fatal(err)
		}
		return c
	}
	waitFor := func(what string, limit time.Duration, done func() bool) {
		t.Helper()
		for end := time.Now().Add(limit); !done(); time.Sleep(2 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("%s: not within %s (alerts %d, digests %d)", what, limit, count("alert"), count("digest"))
			}
		}
	}
	killMidway := func(kind string, isDone func() bool) {
		t.Helper()
		worker := env.Start("worker")
		waitFor(kind+" under way", 2*time.Minute, func() bool { return count(kind) >= 5000 })
		worker.Kill()
		if isDone() {
			t.Fatalf("the %s was finished before the kill: the test proves nothing", kind)
		}
		t.Logf("killed the worker with %d of %d %s emails written", count(kind), n, kind)
		if err := rdb.FlushAll(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		for range 2 { // two workers finish it
			env.Start("worker")
		}
		waitFor(kind+" finished", 3*time.Minute, isDone)
	}
	statusIs := func(query, want string) func() bool {
		return func() bool {
			var s string
			_ = db.Get(&s, query)
			return s == want
		}
	}

	killMidway("alert", statusIs(`SELECT status FROM content_changes`, "done"))
	checkOnce := func(kind, prefix string) {
		t.Helper()
		var total, distinct, wrong int
		if err := db.QueryRow(`SELECT count(*), count(DISTINCT address), count(*) FILTER (WHERE address NOT LIKE $2 || '%')
			FROM emails WHERE kind = $1`, kind, prefix).Scan(&total, &distinct, &wrong); err != nil {
			t.Fatal(err)
		}
		if total != n || distinct != n || wrong != 0 {
			t.Errorf("%s emails: %d, to %d addresses, %d to the wrong people; want %d, once each", kind, total, distinct, wrong, n)
		}
	}
	checkOnce("alert", "immediately")

	// A digest run due now (as the scheduler would create it), killed
	// midway.
	if _, err := db.Exec(`INSERT INTO digest_runs (frequency, date, starts_at, ends_at)
		VALUES ('daily', current_date + 1, now() - interval '1 day', now())`); err != nil {
		t.Fatal(err)
	}
	killMidway("digest", statusIs(`SELECT status FROM digest_runs WHERE date = current_date + 1`, "done"))
	checkOnce("digest", "daily")
	var runEmails int
	if err := db.Get(&runEmails, `SELECT emails FROM digest_runs WHERE date = current_date + 1`); err != nil || runEmails != n {
		t.Errorf("the run counted %d emails (%v), want %d", runEmails, err, n)
	}
}
