package events

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"

	"email-alert/internal/keyset"
	"email-alert/subscribers"
)

// pendingEvent is one row of a sweep; pages follow the pending index:
// received_at, then id.
type pendingEvent struct {
	ID         string    `db:"id"`
	Kind       string    `db:"kind"`
	ReceivedAt time.Time `db:"received_at"`
}

// Sweep enqueues every pending event received more than olderThan ago
// (0: all), oldest first, and returns how many it handed over. With
// limit > 0 it hands over at most limit events: a bounded look that can
// run every few seconds. Events still waiting in the queue are not
// duplicated (TaskID).
func (in *Inbox) Sweep(ctx context.Context, olderThan time.Duration, limit int) (int, error) {
	age := fmt.Sprintf("%d milliseconds", olderThan.Milliseconds())
	return keyset.Walk(ctx, limit,
		func(ctx context.Context, after pendingEvent, size int) ([]pendingEvent, error) {
			var page []pendingEvent
			err := in.db.SelectContext(ctx, &page, `
				SELECT id, kind, received_at FROM account_events
				WHERE status = 'pending' AND received_at <= now() - $1::interval
				  AND (received_at, id) > ($2, $3)
				ORDER BY received_at, id LIMIT $4`,
				age, after.ReceivedAt, after.ID, size)
			if err != nil {
				return nil, fmt.Errorf("sweep events: %w", err)
			}
			return page, nil
		},
		func(ctx context.Context, e pendingEvent) error { return in.Enqueue(ctx, e.ID, e.Kind) })
}

// SweepHandler handles TypeSweep: events pending for a minute are
// enqueued again.
func (in *Inbox) SweepHandler(ctx context.Context, _ *asynq.Task) error {
	n, err := in.Sweep(ctx, time.Minute, 0)
	if n > 0 {
		slog.InfoContext(ctx, "event inbox sweep", "enqueued", n)
	}
	return err
}

// ForgetInactive nulls the address of every subscriber with no active
// subscription, none ended within retention, and created before it: the
// personal data the service no longer needs. Each removal is recorded in
// the subscriber's audit trail (cause: system, forget_inactive) by the
// same statement. It works in batches and returns how many addresses it
// removed.
func ForgetInactive(ctx context.Context, db *sqlx.DB, retention time.Duration) (int64, error) {
	var total int64
	cutoff := fmt.Sprintf("%d seconds", int64(retention.Seconds()))
	cause := subscribers.SystemCause("forget_inactive")
	for {
		res, err := db.ExecContext(ctx, `
			WITH forgotten AS (
				UPDATE subscribers SET address = NULL, updated_at = now()
				WHERE id IN (
					SELECT p.id FROM subscribers p
					WHERE p.address IS NOT NULL AND p.created_at < now() - $1::interval
					  AND NOT EXISTS (
						SELECT 1 FROM subscriptions s
						WHERE s.subscriber_id = p.id
						  AND (s.ended_at IS NULL OR s.ended_at > now() - $1::interval))
					LIMIT 1000
					FOR UPDATE SKIP LOCKED)
				RETURNING id)
			INSERT INTO subscriber_audit (subscriber_id, action, cause_kind, cause_id)
			SELECT id, $2, $3, $4 FROM forgotten`, cutoff, subscribers.AuditAddressRemoved, cause.Kind, cause.ID)
		if err != nil {
			return total, fmt.Errorf("forget inactive subscribers: %w", err)
		}
		n, _ := res.RowsAffected()
		total += n
		if n < 1000 {
			return total, nil
		}
	}
}

// ForgetInactiveHandler handles TypeForgetInactive.
func ForgetInactiveHandler(db *sqlx.DB, retention time.Duration) asynq.HandlerFunc {
	return func(ctx context.Context, _ *asynq.Task) error {
		n, err := ForgetInactive(ctx, db, retention)
		if n > 0 {
			slog.InfoContext(ctx, "addresses of inactive subscribers removed", "subscribers", n)
		}
		return err
	}
}
