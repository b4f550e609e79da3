package events

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"

	"email-alert/internal/lib/keyset"
	"email-alert/subscribers"
)

// pendingEvent is one row of a sweep; pages follow the pending index:
// received_at, then id.
type pendingEvent struct {
	ID         string    `db:"id"`
	ReceivedAt time.Time `db:"received_at"`
}

// Sweep enqueues every pending event received more than olderThan ago
// (0: all), oldest first, in batches, and returns how many it handed
// over. With limit > 0 it hands over at most limit events: a bounded look
// that can run every few seconds. A batch still waiting in the queue is
// not duplicated (TaskID).
func (in *Inbox) Sweep(ctx context.Context, olderThan time.Duration, limit int) (int, error) {
	age := fmt.Sprintf("%d milliseconds", olderThan.Milliseconds())
	var batch []string
	n, err := keyset.Walk(ctx, limit,
		func(ctx context.Context, after pendingEvent, size int) ([]pendingEvent, error) {
			var page []pendingEvent
			err := in.db.SelectContext(ctx, &page, `
				SELECT id, received_at FROM account_events
				WHERE status = 'pending' AND received_at <= now() - $1::interval
				  AND (received_at, id) > ($2, $3)
				ORDER BY received_at, id LIMIT $4`,
				age, after.ReceivedAt, after.ID, size)
			if err != nil {
				return nil, fmt.Errorf("sweep events: %w", err)
			}
			return page, nil
		},
		func(ctx context.Context, e pendingEvent) error {
			if batch = append(batch, e.ID); len(batch) < BatchSize {
				return nil
			}
			defer func() { batch = batch[:0] }()
			return in.Enqueue(ctx, batch)
		})
	if err == nil {
		err = in.Enqueue(ctx, batch)
	}
	return n, err
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

// ForgetInactiveHandler handles TypeForgetInactive: the subscribers'
// retention rule (subscribers.Store.ForgetInactive), run every hour.
func ForgetInactiveHandler(subs *subscribers.Store, retention time.Duration) asynq.HandlerFunc {
	return func(ctx context.Context, _ *asynq.Task) error {
		n, err := subs.ForgetInactive(ctx, retention)
		if n > 0 {
			slog.InfoContext(ctx, "addresses of inactive subscribers removed", "subscribers", n)
		}
		return err
	}
}
