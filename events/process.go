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

	"email-alert/linking/session"
	"email-alert/subscribers"
)

// EndedAccountDeleted is why subscriptions end when their account is deleted.
const EndedAccountDeleted = "account_deleted"

// Processor applies stored events: the handler of both event tasks.
type Processor struct {
	db          *sqlx.DB
	subs        *subscribers.Store
	onProcessed func(kind, outcome string, sinceReceipt time.Duration)
}

// OnProcessed has fn called for every event processed, with its outcome
// and the time since it was received (for metrics).
func (p *Processor) OnProcessed(fn func(kind, outcome string, sinceReceipt time.Duration)) {
	p.onProcessed = fn
}

// NewProcessor returns a Processor.
func NewProcessor(db *sqlx.DB, subs *subscribers.Store) *Processor {
	return &Processor{db: db, subs: subs}
}

// ProcessTask handles TypeAccountEmailChanged and TypeAccountDeleted.
func (p *Processor) ProcessTask(ctx context.Context, t *asynq.Task) error {
	var payload taskPayload
	if err := json.Unmarshal(t.Payload(), &payload); err != nil || payload.EventID == "" {
		return fmt.Errorf("%w: bad payload %q", asynq.SkipRetry, t.Payload())
	}
	return p.Process(ctx, payload.EventID)
}

// Process applies the stored event id, once: the change, the event's
// outcome and its "done" are one transaction, under a lock on the event and
// on its account. A failure is recorded on the event and returned for
// asynq to retry; after MaxAttempts the event is marked failed.
func (p *Processor) Process(ctx context.Context, id string) error {
	var (
		done     bool
		kind     string
		outcome  string
		received time.Time
	)
	err := p.subs.InTx(ctx, func(tx *sqlx.Tx) error {
		done = false
		// Lock the event, then serialise its account's events (the upsert
		// locks the account's cursor row until commit) and learn the newest
		// event applied and whether the account was deleted: one statement.
		var e struct {
			Event
			Status      string     `db:"status"`
			ReceivedAt  time.Time  `db:"received_at"`
			LastApplied *time.Time `db:"last_applied_at"`
			Deleted     bool       `db:"deleted"`
		}
		err := tx.GetContext(ctx, &e, `
			WITH e AS (
				SELECT id, kind, event_type, sub, payload, occurred_at, status, received_at FROM account_events
				WHERE id = $1 FOR UPDATE
			), c AS (
				INSERT INTO account_event_cursors (sub) SELECT sub FROM e WHERE status = 'pending'
				ON CONFLICT (sub) DO UPDATE SET sub = EXCLUDED.sub
				RETURNING last_applied_at
			)
			SELECT e.*, c.last_applied_at, `+session.AccountDeletedSQL("e.sub")+` AS deleted
			FROM e LEFT JOIN c ON true`, id)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && e.Status != "pending") {
			return nil // unknown here, or already done: nothing to do
		}
		if err != nil {
			return fmt.Errorf("load event: %w", err)
		}
		var applied bool
		if outcome, applied, err = p.apply(ctx, tx, e.Event, e.LastApplied, e.Deleted); err != nil {
			return err
		}
		// The event is done and, if it changed something, the account's
		// cursor is at least its time (a deletion older than the cursor
		// does not move it back): one statement.
		_, err = tx.ExecContext(ctx, `
			WITH cursor AS (
				UPDATE account_event_cursors SET last_applied_at = GREATEST(last_applied_at, $4)
				WHERE sub = $3 AND $5
			)
			UPDATE account_events SET status = 'done', outcome = $2, attempts = attempts + 1,
			       last_error = NULL, processed_at = now()
			WHERE id = $1`, id, outcome, e.Sub, e.OccurredAt, applied)
		done, kind, received = err == nil, e.Kind, e.ReceivedAt
		return err
	})
	if err == nil {
		if done && p.onProcessed != nil {
			p.onProcessed(kind, outcome, time.Since(received))
		}
		return nil
	}
	// The transaction rolled back; record the failure on its own.
	_, recordErr := p.db.ExecContext(context.WithoutCancel(ctx), `
		UPDATE account_events SET attempts = attempts + 1, last_error = left($2, 1000),
		       status = CASE WHEN attempts + 1 >= $3 THEN 'failed' ELSE status END
		WHERE id = $1 AND status = 'pending'`, id, err.Error(), MaxAttempts)
	if recordErr != nil {
		return fmt.Errorf("event %s: %w (recording it: %w)", id, err, recordErr)
	}
	return fmt.Errorf("event %s: %w", id, err)
}

// apply applies e in tx, given the newest event applied to its account
// and whether the account was deleted, and returns its outcome and whether
// it changed something (and so moves the account's cursor to its time, if
// later). An email change older than the cursor is superseded; a deletion
// is applied whatever its time.
func (p *Processor) apply(ctx context.Context, tx *sqlx.Tx, e Event, lastApplied *time.Time, deleted bool) (outcome string, applied bool, err error) {
	switch {
	case deleted:
		return OutcomeAccountDeleted, false, nil
	case e.Kind != KindDeleted && lastApplied != nil && e.OccurredAt.Before(*lastApplied):
		// A deletion is never superseded: whatever a change claims about
		// its time, once the account is gone it is gone.
		return OutcomeSuperseded, false, nil
	}

	switch e.Kind {
	case KindEmailChanged:
		outcome, err = p.changeEmail(ctx, tx, e)
	case KindDeleted:
		outcome, err = p.deleteAccount(ctx, tx, e)
	default:
		return OutcomeNotProcessed, false, nil
	}
	if err != nil || outcome == OutcomeIgnoredUnverified {
		return outcome, false, err
	}
	return outcome, true, nil
}

// changeEmail makes the account's verified new email the linked
// subscriber's address, merging with a subscriber that already has it.
func (p *Processor) changeEmail(ctx context.Context, tx *sqlx.Tx, e Event) (string, error) {
	var change EmailChange
	if err := json.Unmarshal(e.Payload, &change); err != nil {
		return "", fmt.Errorf("payload: %w", err)
	}
	address, ok := subscribers.NormalizeAddress(change.Email)
	if !change.EmailVerified || !ok {
		return OutcomeIgnoredUnverified, nil
	}
	_, err := subscribers.ChangeAccountAddressIn(ctx, tx, e.Sub, address, subscribers.EmailChanged, subscribers.EventCause(e.ID))
	switch {
	case errors.Is(err, subscribers.ErrNotFound):
		return OutcomeNoSubscriber, nil
	case err != nil:
		return "", err
	}
	return OutcomeApplied, nil
}

// deleteAccount ends every active subscription of the linked subscriber
// (account_deleted), unlinks it, ends the account's sessions and leaves a
// tombstone, all in tx. The subscriber's audit trail records the ending
// and the unlinking as caused by the event.
func (p *Processor) deleteAccount(ctx context.Context, tx *sqlx.Tx, e Event) (string, error) {
	outcome := OutcomeApplied
	found, err := subscribers.EndAccountIn(ctx, tx, e.Sub, EndedAccountDeleted, subscribers.EventCause(e.ID))
	if err != nil {
		return "", err
	}
	if !found {
		outcome = OutcomeNoSubscriber
	}
	if err := session.DeleteAccount(ctx, tx, e.Sub, e.ID); err != nil {
		return "", err
	}
	return outcome, nil
}
