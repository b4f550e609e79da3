package alerts_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"email-alert/alerts"
	"email-alert/mail"
	"email-alert/subscribers"
)

var london = func() *time.Location {
	l, err := time.LoadLocation("Europe/London")
	if err != nil {
		panic(err)
	}
	return l
}()

// londonAt is 2026-11-<day> at hh:00 in Europe/London.
func londonAt(day, hour int) time.Time { return time.Date(2026, 11, day, hour, 0, 0, 0, london) }

// received moves content change id's receipt (and so its matches) to at.
func (f *fixture) received(t *testing.T, id uuid.UUID, at time.Time) {
	t.Helper()
	for _, q := range []string{
		`UPDATE content_changes SET received_at = $2 WHERE id = $1`,
		`UPDATE content_change_matches SET received_at = $2 WHERE content_change_id = $1`,
	} {
		if _, err := f.db.Exec(q, id, at); err != nil {
			t.Fatal(err)
		}
	}
}

// pastRun records a finished run, as a worker that was up then made it.
func (f *fixture) pastRun(t *testing.T, frequency string, at time.Time) {
	t.Helper()
	window := 24 * time.Hour
	if frequency == alerts.Weekly {
		window *= 7
	}
	if _, err := f.db.Exec(`INSERT INTO digest_runs (frequency, date, starts_at, ends_at, status, finished_at)
		VALUES ($1, $2, $3, $4, 'done', $4)`, frequency, at.Format(time.DateOnly), at.Add(-window), at); err != nil {
		t.Fatal(err)
	}
}

// runPending runs every pending digest run, each from two workers at once.
func (f *fixture) runPending(t *testing.T) {
	t.Helper()
	var ids []int64
	if err := f.db.Select(&ids, `SELECT id FROM digest_runs WHERE status = 'pending' ORDER BY ends_at`); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(ids))
	for _, id := range ids {
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := f.alerts.RunDigest(context.Background(), id)
				errs <- err
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestDigestCatchUpMakesEveryMissedRun: the worker ran the daily digests
// up to 8 November at 08:00 and the weekly one up to 31 October, then
// none was up until Wednesday 11 November, 09:00. Starting then, it makes
// the three missed daily runs (9, 10, 11 November) and the missed weekly
// one (7 November), each covering its own window: a subscriber gets one
// email per run, with that run's content only. Catching up again, or from
// several workers at once, makes nothing more.
func TestDigestCatchUpMakesEveryMissedRun(t *testing.T) {
	f := setup(t, 2) // small batches: runs of several batches
	ctx := context.Background()
	topics := f.list(t, "Topic", `{"tags":{"topics":["a"]}}`)
	var daily []string
	for i := range 5 {
		addr := fmt.Sprintf("d%d@example.com", i)
		f.subscribe(t, addr, topics.ID, subscribers.Daily)
		daily = append(daily, addr)
	}
	f.subscribe(t, "weekly@example.com", topics.ID, subscribers.Weekly)
	if _, err := f.db.Exec(`UPDATE subscriptions SET created_at = $1`, londonAt(1, 0)); err != nil {
		t.Fatal(err)
	}
	// One content change in each daily window, at noon the day before the
	// run; the run of 8 November (done) had "Change 7".
	for _, day := range []int{3, 7, 8, 9, 10} {
		id := f.change(t, fmt.Sprintf("Change %d", day), `,"tags":{"topics":["a"]}`)
		if err := f.alerts.FanOut(ctx, id); err != nil {
			t.Fatal(err)
		}
		f.received(t, id, londonAt(day, 12))
	}
	for day := 5; day <= 8; day++ {
		f.pastRun(t, alerts.Daily, londonAt(day, 8))
	}
	f.pastRun(t, alerts.Weekly, time.Date(2026, 10, 17, 8, 0, 0, 0, london))
	f.pastRun(t, alerts.Weekly, time.Date(2026, 10, 24, 8, 0, 0, 0, london))
	f.pastRun(t, alerts.Weekly, time.Date(2026, 10, 31, 8, 0, 0, 0, london))

	now := londonAt(11, 9)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created int
	)
	for range 4 { // four workers starting at once
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := f.alerts.CatchUp(ctx, now)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			created += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	if created != 4 {
		t.Errorf("catch-up made %d runs, want 4 (3 daily, 1 weekly)", created)
	}
	var pending []string
	if err := f.db.Select(&pending, `SELECT frequency || ' ' || date || ' ' || to_char(starts_at AT TIME ZONE 'Europe/London', 'DD HH24:MI')
		|| '..' || to_char(ends_at AT TIME ZONE 'Europe/London', 'DD HH24:MI')
		FROM digest_runs WHERE status = 'pending' ORDER BY frequency, date`); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"daily 2026-11-09 08 08:00..09 08:00", "daily 2026-11-10 09 08:00..10 08:00",
		"daily 2026-11-11 10 08:00..11 08:00", "weekly 2026-11-07 31 08:00..07 08:00",
	}
	if fmt.Sprint(pending) != fmt.Sprint(want) {
		t.Errorf("runs made:\n%q\nwant\n%q", pending, want)
	}
	f.runPending(t)

	type email struct {
		ID      uuid.UUID `db:"id"`
		Address string    `db:"address"`
		Run     string    `db:"run"`
	}
	emails := func() []email {
		var es []email
		if err := f.db.Select(&es, `SELECT e.id, e.address, r.frequency || ' ' || r.date AS run
			FROM emails e JOIN digest_runs r ON r.id = e.digest_run_id
			WHERE e.kind = 'digest' ORDER BY e.address, r.date`); err != nil {
			t.Fatal(err)
		}
		return es
	}
	got := map[string][]string{}
	for _, e := range emails() {
		got[e.Address] = append(got[e.Address], e.Run)
	}
	wantRuns := map[string][]string{"weekly@example.com": {"weekly 2026-11-07"}}
	for _, a := range daily {
		wantRuns[a] = []string{"daily 2026-11-09", "daily 2026-11-10", "daily 2026-11-11"}
	}
	if fmt.Sprint(got) != fmt.Sprint(wantRuns) {
		t.Errorf("digest emails by subscriber:\n%v\nwant\n%v", got, wantRuns)
	}

	// Each email lists its own run's content, and no other run's.
	sender := &recordingSender{}
	d := mail.NewDeliverer(f.db, sender)
	d.ComposeWith(alerts.KindDigest, f.alerts.ComposeDigest)
	wantContent := map[string][]string{
		"daily 2026-11-09": {"Change 8"}, "daily 2026-11-10": {"Change 9"}, "daily 2026-11-11": {"Change 10"},
		"weekly 2026-11-07": {"Change 3"}, // "Change 7" came after it
	}
	for _, e := range emails() {
		if e.Address != daily[0] && e.Address != "weekly@example.com" {
			continue
		}
		sender.sent = nil
		if err := d.Deliver(ctx, e.ID); err != nil {
			t.Fatal(err)
		}
		if len(sender.sent) != 1 {
			t.Fatalf("%s %s: sent %d emails", e.Address, e.Run, len(sender.sent))
		}
		body := sender.sent[0].Body
		var titles []string
		for _, line := range strings.Split(body, "\n") {
			if line = strings.TrimSpace(line); strings.HasPrefix(line, "Change ") {
				titles = append(titles, line)
			}
		}
		if fmt.Sprint(titles) != fmt.Sprint(wantContent[e.Run]) {
			t.Errorf("%s %s lists %q, want %q:\n%s", e.Address, e.Run, titles, wantContent[e.Run], body)
		}
	}

	// Again (a restarted worker, the minute sweep): nothing more.
	if n, err := f.alerts.CatchUp(ctx, now); err != nil || n != 0 {
		t.Errorf("second catch-up made %d runs (%v), want 0", n, err)
	}
	if _, err := f.db.Exec(`UPDATE digest_runs SET status = 'pending', cursor_list_id = 0, cursor_subscriber_id = 0
		WHERE ends_at > $1`, londonAt(8, 9)); err != nil {
		t.Fatal(err)
	}
	f.runPending(t) // as after a crash that lost the runs' progress
	if n := len(emails()); n != 3*len(daily)+1 {
		t.Errorf("%d digest emails after running the runs again, want %d", n, 3*len(daily)+1)
	}
}

// TestDigestCatchUpIsBounded: a worker up for the first time, or after a
// long outage, makes the runs of the last CatchUpDaily days and
// CatchUpWeekly Saturdays and no older ones; the daily ones keep to
// DIGEST_TIME across the change from summer time (25 October 2026).
func TestDigestCatchUpIsBounded(t *testing.T) {
	f := setup(t, 100)
	now := time.Date(2026, 10, 28, 7, 0, 0, 0, london) // a Wednesday, before DIGEST_TIME
	n, err := f.alerts.CatchUp(context.Background(), now)
	if err != nil {
		t.Fatal(err)
	}
	if n != alerts.CatchUpDaily+alerts.CatchUpWeekly {
		t.Errorf("made %d runs, want %d", n, alerts.CatchUpDaily+alerts.CatchUpWeekly)
	}
	var runs []string
	if err := f.db.Select(&runs, `SELECT frequency || ' ' || to_char(ends_at AT TIME ZONE 'Europe/London', 'YYYY-MM-DD HH24:MI')
		|| ' ' || (extract(epoch FROM ends_at - starts_at) / 3600)::int || 'h'
		FROM digest_runs WHERE to_char(ends_at AT TIME ZONE 'Europe/London', 'YYYY-MM-DD') = date::text
		ORDER BY frequency, date`); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"daily 2026-10-21 08:00 24h", "daily 2026-10-22 08:00 24h", "daily 2026-10-23 08:00 24h",
		"daily 2026-10-24 08:00 24h", "daily 2026-10-25 08:00 24h", "daily 2026-10-26 08:00 24h",
		"daily 2026-10-27 08:00 24h",
		"weekly 2026-10-03 08:00 168h", "weekly 2026-10-10 08:00 168h", "weekly 2026-10-17 08:00 168h",
		"weekly 2026-10-24 08:00 168h",
	}
	if fmt.Sprint(runs) != fmt.Sprint(want) {
		t.Errorf("runs:\n%q\nwant\n%q", runs, want)
	}
}
