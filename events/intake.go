package events

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lib/pq"
)

// Concurrent Records share their INSERT: while one batch is being written,
// the events that arrive queue for the next, and each Record waits for the
// commit of the batch that holds its event. Under load that is one
// statement and one commit for many events; alone, an event is written at
// once, as before.
const (
	// writeBatch is the most events one INSERT writes.
	writeBatch = 100
	// writers is how many batches are written at a time.
	writers = 4
	// writeTimeout bounds one batch's INSERT.
	writeTimeout = 10 * time.Second
)

// write is one event waiting to be stored.
type write struct {
	e       Event
	status  string
	outcome sql.NullString
	done    chan writeResult // buffered: the writer never waits for Record
}

type writeResult struct {
	inserted bool
	err      error
}

// intake batches the inbox's inserts.
type intake struct {
	in      *Inbox
	mu      sync.Mutex
	queue   []*write
	running int // writers writing
}

// store stores w's event unless its id is stored already, and reports
// whether this write inserted it.
func (t *intake) store(ctx context.Context, w *write) (bool, error) {
	w.done = make(chan writeResult, 1)
	t.mu.Lock()
	t.queue = append(t.queue, w)
	if t.running < writers {
		t.running++
		go t.writeAll()
	}
	t.mu.Unlock()
	select {
	case r := <-w.done:
		return r.inserted, r.err
	case <-ctx.Done():
		// The event may yet be stored: the sender's retry finds it.
		return false, ctx.Err()
	}
}

// writeAll writes batches until the queue is empty.
func (t *intake) writeAll() {
	for {
		t.mu.Lock()
		n := min(len(t.queue), writeBatch)
		if n == 0 {
			t.running--
			t.mu.Unlock()
			return
		}
		batch := t.queue[:n:n]
		t.queue = t.queue[n:]
		t.mu.Unlock()
		t.write(batch)
	}
}

// write inserts batch in one statement; if that fails, each event on its
// own, so that one event the database refuses fails alone.
func (t *intake) write(batch []*write) {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	inserted, err := t.insert(ctx, batch)
	if err != nil && len(batch) > 1 {
		for _, w := range batch {
			t.write([]*write{w})
		}
		return
	}
	for _, w := range batch {
		if err != nil {
			w.done <- writeResult{err: fmt.Errorf("record event %s: %w", w.e.ID, err)}
			continue
		}
		// Of two writes of one id in a batch, the first inserted it.
		_, first := inserted[w.e.ID]
		delete(inserted, w.e.ID)
		w.done <- writeResult{inserted: first}
	}
}

// insert inserts the events of batch whose ids are not stored yet, and
// returns the ids it inserted.
func (t *intake) insert(ctx context.Context, batch []*write) (map[string]struct{}, error) {
	// In id order: two batches that share ids (a sender's retries) then
	// wait for each other rather than deadlock.
	slices.SortFunc(batch, func(a, b *write) int { return strings.Compare(a.e.ID, b.e.ID) })
	n := len(batch)
	var (
		ids, kinds, types, subs, payloads, statuses = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		occurred                                    = make([]time.Time, n)
		outcomes                                    = make([]sql.NullString, n)
	)
	for i, w := range batch {
		ids[i], kinds[i], types[i], subs[i] = w.e.ID, w.e.Kind, w.e.EventType, w.e.Sub
		payloads[i], occurred[i], statuses[i], outcomes[i] = string(w.e.Payload), w.e.OccurredAt, w.status, w.outcome
	}
	var stored []string
	err := t.in.db.SelectContext(ctx, &stored, `
		INSERT INTO account_events (id, kind, event_type, sub, payload, occurred_at, status, outcome)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::timestamptz[], $7::text[], $8::text[])
		ON CONFLICT (id) DO NOTHING
		RETURNING id`,
		pq.Array(ids), pq.Array(kinds), pq.Array(types), pq.Array(subs), pq.Array(payloads),
		pq.Array(occurred), pq.Array(statuses), pq.Array(outcomes))
	if err != nil {
		return nil, err
	}
	inserted := make(map[string]struct{}, len(stored))
	for _, id := range stored {
		inserted[id] = struct{}{}
	}
	return inserted, nil
}
