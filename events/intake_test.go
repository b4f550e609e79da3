package events_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"email-alert/events"
)

// Concurrent Records share INSERTs: each event is stored once, a repeated
// id reports not new (or ErrIDReused with another payload), and an event
// the database refuses fails alone, not the batch it was written in.
func TestConcurrentRecordsEachStoredOnce(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	const n = 300
	type result struct {
		inserted bool
		err      error
	}
	results := make([]result, 3*n+1)
	f.db.SetMaxOpenConns(40) // as the service's pool
	var wg sync.WaitGroup
	occurred := time.Now().Truncate(time.Microsecond)
	for i := range 3 * n {
		wg.Go(func() {
			// Each id three times: twice with its payload, once with another.
			id := i % n
			payload := fmt.Sprintf(`{"n": %d}`, id)
			if i >= 2*n {
				payload = `{"other": true}`
			}
			e := events.Event{ID: fmt.Sprintf("c-%d", id), Kind: events.KindDeleted, EventType: events.EventAccountPurged,
				Sub: fmt.Sprintf("urn:c:%d", id), Payload: []byte(payload), OccurredAt: occurred}
			results[i].inserted, results[i].err = f.inbox.Record(ctx, e)
		})
	}
	wg.Go(func() {
		// Refused by the database (kind's CHECK), in the middle of the others.
		_, results[3*n].err = f.inbox.Record(ctx, events.Event{ID: "bad", Kind: "nonsense", Sub: "urn:bad",
			Payload: []byte(`{}`), OccurredAt: occurred})
	})
	wg.Wait()

	if results[3*n].err == nil {
		t.Error("an event of a kind the inbox refuses was stored")
	}
	for id := range n {
		// Exactly one of an id's three writes stored it. If that was the
		// one with the other payload, both others are refused; else it is,
		// and the other with the same payload is told it was a repeat.
		same, other := []result{results[id], results[n+id]}, results[2*n+id]
		switch {
		case other.inserted && other.err == nil:
			for _, r := range same {
				if r.inserted || !errors.Is(r.err, events.ErrIDReused) {
					t.Fatalf("c-%d: stored with the other payload, yet a write of its own got %v, %v", id, r.inserted, r.err)
				}
			}
		case !errors.Is(other.err, events.ErrIDReused):
			t.Fatalf("c-%d: the write with another payload got %v, %v", id, other.inserted, other.err)
		case same[0].err != nil || same[1].err != nil || same[0].inserted == same[1].inserted:
			t.Fatalf("c-%d: its two writes got (%v, %v) and (%v, %v); want one inserted", id,
				same[0].inserted, same[0].err, same[1].inserted, same[1].err)
		}
	}
	if got := f.count(t, `SELECT count(*) FROM account_events WHERE id LIKE 'c-%' AND occurred_at = $1 AND status = 'pending'`, occurred); got != n {
		t.Errorf("%d events stored, want %d", got, n)
	}
}
