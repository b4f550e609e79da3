// Package events receives account lifecycle events from the account
// service (email changed, account deleted) and applies them in the
// background. An event is acknowledged only once its row is committed in
// the inbox (account_events); the worker polls the inbox for new events
// and enqueues them in batches, and an asynq task applies a batch in one
// transaction that also marks its events done, so every event is applied
// exactly once however often it is delivered or retried; a periodic sweep
// re-enqueues whatever Redis lost. Events of one
// account are serialised, and an email change older than the last event
// applied is recorded as superseded; a deletion never is.
package events

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"

	"email-alert/internal/lib/txpoll"
)

// RISC event types (OpenID RISC profile).
const (
	EventAccountPurged     = "https://schemas.openid.net/secevent/risc/event-type/account-purged"
	EventIdentifierChanged = "https://schemas.openid.net/secevent/risc/event-type/identifier-changed"
)

// Kinds of event, as stored.
const (
	KindEmailChanged = "email_changed"
	KindDeleted      = "deleted"
	KindUnknown      = "unknown"
)

// Outcomes of processing, as stored.
const (
	OutcomeApplied           = "applied"
	OutcomeSuperseded        = "superseded"
	OutcomeIgnoredUnverified = "ignored_unverified"
	OutcomeNoSubscriber      = "no_subscriber"
	OutcomeAccountDeleted    = "account_deleted"
	OutcomeNotProcessed      = "not_processed"
)

// Event is one lifecycle event as the inbox keeps it.
type Event struct {
	ID         string          `db:"id"`
	Kind       string          `db:"kind"`
	EventType  string          `db:"event_type"`
	Sub        string          `db:"sub"`
	Payload    json.RawMessage `db:"payload"`
	OccurredAt time.Time       `db:"occurred_at"`
}

// EmailChange is the payload of an email_changed event.
type EmailChange struct {
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
}

// Inbox stores events and hands them to the worker.
type Inbox struct {
	db         *sqlx.DB
	client     *asynq.Client
	queue      string
	onReceived func(kind string)
	intake     intake
}

// OnReceived has fn called for every newly stored event (for metrics).
func (in *Inbox) OnReceived(fn func(kind string)) { in.onReceived = fn }

// NewInbox returns an inbox enqueueing into queue.
func NewInbox(db *sqlx.DB, client *asynq.Client, queue string) *Inbox {
	in := &Inbox{db: db, client: client, queue: queue}
	in.intake.in = in
	return in
}

// ErrIDReused is returned by Record for an event whose id is stored
// already with another payload: the id is another event's, and nothing is
// stored.
var ErrIDReused = errors.New("event id already used by an event with another payload")

// Record stores e unless an event with its id is stored already, and
// reports whether it was new; when the stored one has another payload it
// returns ErrIDReused. Once Record returns nil the event is durable, and
// the caller may acknowledge it: the worker's poll finds it and enqueues
// it (Poll), and the sweep again if Redis loses it. Concurrent Records
// share one INSERT (intake.go).
func (in *Inbox) Record(ctx context.Context, e Event) (bool, error) {
	w := &write{e: e, status: "pending"}
	if e.Kind == KindUnknown {
		w.status, w.outcome = "done", sql.NullString{String: OutcomeNotProcessed, Valid: true}
	}
	inserted, err := in.intake.store(ctx, w)
	if err != nil {
		return false, err
	}
	if !inserted {
		var same bool
		if err := in.db.GetContext(ctx, &same, `SELECT payload = $2::jsonb FROM account_events WHERE id = $1`,
			e.ID, string(e.Payload)); err != nil {
			return false, fmt.Errorf("compare event %s with the one stored: %w", e.ID, err)
		}
		if !same {
			return false, ErrIDReused
		}
		return false, nil
	}
	if in.onReceived != nil {
		in.onReceived(e.Kind)
	}
	return true, nil
}

// Enqueue enqueues the application of the events ids, in batches of
// BatchSize; a batch already waiting in the queue is left as it is.
func (in *Inbox) Enqueue(ctx context.Context, ids []string) error {
	for len(ids) > 0 {
		n := min(len(ids), BatchSize)
		if _, err := in.client.EnqueueContext(ctx, newBatchTask(ids[:n], in.queue)); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
			return fmt.Errorf("enqueue events %s…: %w", ids[0], err)
		}
		ids = ids[n:]
	}
	return nil
}

// Poll enqueues each new event soon after it is stored, checking every
// interval until ctx ends: the inbox is polled by the transaction id of
// each row (internal/lib/txpoll), and its events handed over in batches.
func (in *Inbox) Poll(ctx context.Context, interval time.Duration) {
	txpoll.New(in.db, txpoll.Source{Table: "account_events", IDType: "text", Where: "status = 'pending'"},
		BatchSize, in.Enqueue).Run(ctx, interval, "event inbox")
}
