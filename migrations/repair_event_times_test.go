package migrations_test

import (
	"context"
	"testing"
	"time"

	"email-alert/events"
	"email-alert/internal/testkit/testdb"
	"email-alert/migrations"
	"email-alert/subscribers"
)

// TestRepairEventTimes: an account frozen by an event dated far ahead
// (stored before toe was bounded) is repaired by migration 00020: the
// event's time becomes its receipt, the cursor follows, and the deletion
// and the email change it had superseded are applied by the worker; an
// email change rightly superseded stays so.
func TestRepairEventTimes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := testdb.New(t)
	store := subscribers.NewStore(db, nil)
	const sub = "urn:fdc:gov.uk:2022:ann"
	list, _, err := store.FindOrCreateList(ctx, subscribers.NewList{Title: "News", Slug: "news"})
	if err != nil {
		t.Fatal(err)
	}
	s, _, err := store.Subscribe(ctx, subscribers.SubscribeRequest{
		Address: "ann@example.com", ListID: list.ID, Frequency: subscribers.Daily, Cause: subscribers.APICause("test0000"),
	})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	received := now.Add(-2 * time.Hour).Truncate(time.Second)
	msToe := time.Unix(now.UnixMilli(), 0) // a toe in milliseconds, read as seconds
	for _, q := range []struct {
		query string
		args  []any
	}{
		{`UPDATE subscribers SET govuk_account_id = $2 WHERE id = $1`, []any{s.Subscriber.ID, sub}},
		{`INSERT INTO account_events (id, kind, event_type, sub, payload, occurred_at, received_at, status, outcome, attempts) VALUES
			('poison', 'email_changed', 'x', $1, '{"email":"ann@poison.example","email_verified":true}', $2, $3, 'done', 'applied', 1),
			('rightly', 'email_changed', 'x', $1, '{"email":"ann@old.example","email_verified":true}', $4, $4, 'done', 'superseded', 1),
			('change', 'email_changed', 'x', $1, '{"email":"ann@new.example","email_verified":true}', $5, $5, 'done', 'superseded', 1),
			('deletion', 'deleted', 'x', $1, '{}', $6, $6, 'done', 'superseded', 1)`,
			[]any{sub, msToe, received, now.Add(-3 * time.Hour), now.Add(-time.Hour), now.Add(-30 * time.Minute)}},
		{`INSERT INTO account_event_cursors (sub, last_applied_at) VALUES ($1, $2)`, []any{sub, msToe}},
	} {
		if _, err := db.ExecContext(ctx, q.query, q.args...); err != nil {
			t.Fatal(err)
		}
	}

	if err := migrations.Reapply(ctx, db.DB, 20); err != nil {
		t.Fatal(err)
	}
	var cursor time.Time
	if err := db.GetContext(ctx, &cursor, `SELECT last_applied_at FROM account_event_cursors WHERE sub = $1`, sub); err != nil {
		t.Fatal(err)
	}
	if !cursor.Equal(received) {
		t.Errorf("cursor %s, want the poisoning event's receipt %s", cursor, received)
	}
	status := func(id string) string {
		t.Helper()
		var st string
		if err := db.GetContext(ctx, &st, `SELECT status || ' ' || coalesce(outcome, '') FROM account_events WHERE id = $1`, id); err != nil {
			t.Fatal(err)
		}
		return st
	}
	for id, want := range map[string]string{"poison": "done applied", "rightly": "done superseded", "change": "pending ", "deletion": "pending "} {
		if got := status(id); got != want {
			t.Errorf("event %s after the repair: %q, want %q", id, got, want)
		}
	}

	processor := events.NewProcessor(db, store)
	for _, id := range []string{"change", "deletion"} { // as the sweep hands them over
		if err := processor.Process(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"change", "deletion"} {
		if got := status(id); got != "done applied" {
			t.Errorf("event %s: %q, want done applied", id, got)
		}
	}
	got, err := store.Subscription(ctx, s.ID)
	if err != nil || got.Active() || got.EndedReason == nil || *got.EndedReason != events.EndedAccountDeleted {
		t.Errorf("subscription: %+v, %v; want ended account_deleted", got, err)
	}
	var linked, tombstones int
	if err := db.GetContext(ctx, &linked, `SELECT count(*) FROM subscribers WHERE govuk_account_id IS NOT NULL`); err != nil {
		t.Fatal(err)
	}
	if err := db.GetContext(ctx, &tombstones, `SELECT count(*) FROM deleted_accounts WHERE sub = $1`, sub); err != nil {
		t.Fatal(err)
	}
	if linked != 0 || tombstones != 1 {
		t.Errorf("%d subscribers linked, %d tombstones; want 0 and 1", linked, tombstones)
	}
}
