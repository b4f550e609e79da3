package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Periodic tasks of the outbox, scheduled by the worker.
const (
	TypeSweep = "email:sweep"
	TypePurge = "email:purge"
)

// BodyRetention is how long a delivered email's body is kept.
const BodyRetention = 7 * 24 * time.Hour

// Dispatcher turns outbox rows into asynq tasks: at once when PostgreSQL
// announces a new row (LISTEN email_outbox), and in periodic sweeps for
// anything that was missed (a worker down, Redis wiped).
type Dispatcher struct {
	db     *sqlx.DB
	dsn    string
	client *asynq.Client
	queue  string
}

// NewDispatcher returns a dispatcher enqueueing into queue. dsn is used for
// the listening connection.
func NewDispatcher(db *sqlx.DB, dsn string, client *asynq.Client, queue string) *Dispatcher {
	return &Dispatcher{db: db, dsn: dsn, client: client, queue: queue}
}

// Enqueue enqueues the delivery of email id; an email already waiting in
// the queue is left as it is.
func (d *Dispatcher) Enqueue(ctx context.Context, id uuid.UUID) error {
	_, err := d.client.EnqueueContext(ctx, NewDeliverTask(id, d.queue))
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueue email %s: %w", id, err)
	}
	return nil
}

// Listen enqueues every email PostgreSQL announces until ctx ends. After a
// lost connection it sweeps, since notifications sent meanwhile are gone.
func (d *Dispatcher) Listen(ctx context.Context) error {
	listener := pq.NewListener(d.dsn, time.Second, time.Minute, func(ev pq.ListenerEventType, err error) {
		if err != nil {
			slog.Warn("email outbox listener", "event", ev, "error", err)
		}
	})
	defer listener.Close()
	if err := listener.Listen("email_outbox"); err != nil {
		return fmt.Errorf("listen email_outbox: %w", err)
	}
	// Rows written before we listened are only found by a sweep.
	if _, err := d.Sweep(ctx, 0); err != nil {
		slog.Warn("email outbox sweep", "error", err)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case n := <-listener.Notify:
			if n == nil { // reconnected: notifications may have been lost
				if _, err := d.Sweep(ctx, 0); err != nil {
					slog.Warn("email outbox sweep", "error", err)
				}
				continue
			}
			id, err := uuid.Parse(n.Extra)
			if err != nil {
				continue
			}
			if err := d.Enqueue(ctx, id); err != nil {
				slog.Warn("email outbox", "error", err) // the sweep will retry
			}
		case <-time.After(90 * time.Second):
			go func() { _ = listener.Ping() }() // notice a dead connection
		}
	}
}

// Sweep enqueues every unfinished email last touched more than olderThan
// ago (0: all of them), in batches, and returns how many it handed over.
// Emails still waiting in the queue are not duplicated (TaskID).
func (d *Dispatcher) Sweep(ctx context.Context, olderThan time.Duration) (int, error) {
	var (
		after uuid.UUID
		total int
	)
	for {
		var ids []uuid.UUID
		err := d.db.SelectContext(ctx, &ids, `
			SELECT id FROM emails
			WHERE status IN ('pending', 'sending') AND updated_at <= now() - $1::interval AND id > $2
			ORDER BY id LIMIT 1000`, fmt.Sprintf("%d milliseconds", olderThan.Milliseconds()), after)
		if err != nil {
			return total, fmt.Errorf("sweep emails: %w", err)
		}
		for _, id := range ids {
			if err := d.Enqueue(ctx, id); err != nil {
				return total, err
			}
		}
		total += len(ids)
		if len(ids) < 1000 {
			return total, nil
		}
		after = ids[len(ids)-1]
	}
}

// Purge empties the bodies of emails delivered more than BodyRetention ago:
// they may hold sign-in links and are of no use once sent.
func Purge(ctx context.Context, db *sqlx.DB) (int64, error) {
	res, err := db.ExecContext(ctx, `
		UPDATE emails SET body = '', updated_at = now()
		WHERE status = 'sent' AND body <> '' AND sent_at < now() - $1::interval`,
		fmt.Sprintf("%d seconds", int64(BodyRetention.Seconds())))
	if err != nil {
		return 0, fmt.Errorf("purge email bodies: %w", err)
	}
	return res.RowsAffected()
}

// SweepHandler handles TypeSweep: emails untouched for a minute are
// enqueued again.
func (d *Dispatcher) SweepHandler(ctx context.Context, _ *asynq.Task) error {
	n, err := d.Sweep(ctx, time.Minute)
	if n > 0 {
		slog.InfoContext(ctx, "email outbox sweep", "enqueued", n)
	}
	return err
}

// PurgeHandler handles TypePurge.
func (d *Dispatcher) PurgeHandler(ctx context.Context, _ *asynq.Task) error {
	n, err := Purge(ctx, d.db)
	if n > 0 {
		slog.InfoContext(ctx, "email bodies purged", "emails", n)
	}
	return err
}
