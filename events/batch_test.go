package events_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"email-alert/events"
)

// record stores an event for sub directly in the inbox: an email change
// to email (verified) or, with email "", a deletion.
func (f *fixture) record(t *testing.T, id, sub, email string, occurred time.Time) {
	t.Helper()
	e := events.Event{ID: id, Sub: sub, OccurredAt: occurred, Kind: events.KindDeleted, EventType: events.EventAccountPurged, Payload: []byte(`{}`)}
	if email != "" {
		e.Kind, e.EventType = events.KindEmailChanged, events.EventIdentifierChanged
		e.Payload, _ = json.Marshal(events.EmailChange{Email: email, EmailVerified: true})
	}
	if _, err := f.inbox.Record(context.Background(), e); err != nil {
		t.Fatal(err)
	}
}

// One batch applies its events as one at a time would, in the order
// received: each event of an account sees what the one before it did.
func TestBatchAppliesEachEventAfterTheOneBefore(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	ann := f.linked(t, "ann@old.example", "urn:ann")
	f.linked(t, "bob@old.example", "urn:bob")
	t0 := time.Now().Add(-time.Hour)
	f.record(t, "ann-1", "urn:ann", "ann@new.example", t0.Add(2*time.Minute))
	f.record(t, "ann-2", "urn:ann", "ann@older.example", t0.Add(time.Minute)) // received later, happened earlier
	f.record(t, "ann-3", "urn:ann", "", t0)                                   // a deletion is never superseded
	f.record(t, "bob-1", "urn:bob", "", t0)
	f.record(t, "bob-2", "urn:bob", "bob@new.example", t0.Add(time.Minute)) // after the deletion
	f.record(t, "cat-1", "urn:cat", "", t0)                                 // no subscriber

	if err := f.processor.ProcessBatch(ctx, []string{"bob-2", "cat-1", "ann-3", "ann-1", "bob-1", "ann-2"}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"ann-1": events.OutcomeApplied, "ann-2": events.OutcomeSuperseded, "ann-3": events.OutcomeApplied,
		"bob-1": events.OutcomeApplied, "bob-2": events.OutcomeAccountDeleted, "cat-1": events.OutcomeNoSubscriber,
	}
	for id, outcome := range want {
		if got := f.outcome(t, id); got != outcome {
			t.Errorf("%s: outcome %q, want %q", id, got, outcome)
		}
	}
	if n := f.count(t, `SELECT count(*) FROM account_events WHERE status <> 'done' OR attempts <> 1 OR processed_at IS NULL`); n != 0 {
		t.Errorf("%d events not done exactly once", n)
	}
	if n := f.count(t, `SELECT count(*) FROM subscribers WHERE id = $1 AND address = 'ann@new.example' AND govuk_account_id IS NULL`, ann.Subscriber.ID); n != 1 {
		t.Errorf("ann's address is not the one of her first change, or her account is still linked")
	}
	if n := f.count(t, `SELECT count(*) FROM subscribers WHERE address = 'bob@new.example'`); n != 0 {
		t.Errorf("bob's change after his deletion was applied")
	}
	if n := f.count(t, `SELECT count(*) FROM deleted_accounts WHERE sub IN ('urn:ann', 'urn:bob', 'urn:cat')`); n != 3 {
		t.Errorf("%d tombstones, want 3", n)
	}
	// The cursor is the newest event applied: ann's first change.
	if n := f.count(t, `SELECT count(*) FROM account_event_cursors WHERE sub = 'urn:ann' AND last_applied_at = $1`, t0.Add(2*time.Minute)); n != 1 {
		t.Errorf("ann's cursor is not at her newest applied event")
	}
	// Applied again (a redelivered task), nothing changes.
	if err := f.processor.ProcessBatch(ctx, []string{"ann-1", "bob-1"}); err != nil {
		t.Fatal(err)
	}
	if n := f.count(t, `SELECT count(*) FROM account_events WHERE attempts <> 1`); n != 0 {
		t.Errorf("a redelivered batch processed %d events again", n)
	}
}

// An event that cannot be applied fails alone: the batch falls back to
// one transaction per event, the others are applied, and the bad one is
// left pending with its error for the retry.
func TestBatchFailureIsTheBadEventsAlone(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	f.linked(t, "ann@old.example", "urn:ann")
	f.linked(t, "bob@old.example", "urn:bob")
	f.record(t, "ann-1", "urn:ann", "ann@new.example", time.Now())
	f.record(t, "bad-1", "urn:bob", "bob@new.example", time.Now())
	f.record(t, "bob-1", "urn:bob", "", time.Now().Add(time.Second))
	if _, err := f.db.Exec(`UPDATE account_events SET payload = '[1]' WHERE id = 'bad-1'`); err != nil {
		t.Fatal(err)
	}

	err := f.processor.ProcessBatch(ctx, []string{"ann-1", "bad-1", "bob-1"})
	if err == nil {
		t.Fatal("the batch with a bad event succeeded")
	}
	if got := f.outcome(t, "ann-1"); got != events.OutcomeApplied {
		t.Errorf("ann-1: %q, want applied", got)
	}
	if got := f.outcome(t, "bob-1"); got != events.OutcomeApplied {
		t.Errorf("bob-1: %q, want applied", got)
	}
	if n := f.count(t, `SELECT count(*) FROM account_events WHERE id = 'bad-1' AND status = 'pending' AND attempts = 1 AND last_error LIKE '%payload%'`); n != 1 {
		t.Errorf("the bad event is not pending with its error")
	}
}

// The worker's poll hands new events over in batches, each event once,
// and events stored later in the next poll.
func TestPollEnqueuesNewEventsInBatches(t *testing.T) {
	f := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range 120 {
		f.record(t, fmt.Sprintf("e-%03d", i), fmt.Sprintf("urn:%d", i), "", time.Now())
	}
	go f.inbox.Poll(ctx, 10*time.Millisecond)

	queued := func(want int) []string {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			tasks, err := f.inspector.ListPendingTasks(f.queue)
			if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
				t.Fatal(err)
			}
			var ids []string
			for _, task := range tasks {
				if task.Type != events.TypeApply {
					t.Fatalf("task %s queued", task.Type)
				}
				var p struct {
					EventIDs []string `json:"event_ids"`
				}
				if err := json.Unmarshal(task.Payload, &p); err != nil || len(p.EventIDs) > events.BatchSize {
					t.Fatalf("task payload %s", task.Payload)
				}
				ids = append(ids, p.EventIDs...)
			}
			if len(ids) >= want || time.Now().After(deadline) {
				slices.Sort(ids)
				return ids
			}
		}
	}
	ids := queued(120)
	if len(ids) != 120 || len(slices.Compact(slices.Clone(ids))) != 120 || ids[0] != "e-000" || ids[119] != "e-119" {
		t.Fatalf("%d event ids queued (%v…), want e-000 to e-119 once each", len(ids), ids[:min(3, len(ids))])
	}
	f.record(t, "later", "urn:later", "", time.Now())
	time.Sleep(100 * time.Millisecond) // polls in which nothing else may be queued
	if ids := queued(121); len(ids) != 121 || !slices.Contains(ids, "later") {
		t.Errorf("%d event ids queued after one more was stored, want 121 with it", len(ids))
	}
}
