package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"

	"email-alert/internal/lib/keyset"
	"email-alert/internal/lib/txpoll"
)

// Periodic tasks of the outbox, scheduled by the worker.
const (
	TypeSweep = "email:sweep"
	TypePurge = "email:purge"
)

// BodyRetention is how long a delivered email's body is kept.
const BodyRetention = 7 * 24 * time.Hour

// Dispatcher turns outbox rows into asynq tasks: within a poll interval of
// their commit, and in sweeps for anything that was missed (a failed
// enqueue, a wiped Redis). Each priority has a queue of its own.
type Dispatcher struct {
	db     *sqlx.DB
	client *asynq.Client
	queues map[Priority]string
}

// NewDispatcher returns a dispatcher enqueueing every email into queue;
// Route gives a priority a queue of its own.
func NewDispatcher(db *sqlx.DB, client *asynq.Client, queue string) *Dispatcher {
	return &Dispatcher{db: db, client: client, queues: map[Priority]string{Transactional: queue}}
}

// Route enqueues the emails of priority p into queue.
func (d *Dispatcher) Route(p Priority, queue string) *Dispatcher {
	d.queues[p] = queue
	return d
}

func (d *Dispatcher) queue(p Priority) string {
	if q, ok := d.queues[p]; ok {
		return q
	}
	return d.queues[Transactional]
}

// Enqueue enqueues the delivery of email id of priority p; an email
// already waiting in the queue is left as it is.
func (d *Dispatcher) Enqueue(ctx context.Context, id uuid.UUID, p Priority) error {
	return d.EnqueueBatch(ctx, []uuid.UUID{id}, p)
}

// EnqueueBatch enqueues the delivery of emails ids of priority p, one task
// per BatchSize of them. A batch already waiting in the queue is left as
// it is.
func (d *Dispatcher) EnqueueBatch(ctx context.Context, ids []uuid.UUID, p Priority) error {
	return d.enqueue(ctx, ids, p, "")
}

// enqueue is EnqueueBatch with the version of newDeliverTask.
func (d *Dispatcher) enqueue(ctx context.Context, ids []uuid.UUID, p Priority, version string) error {
	for len(ids) > 0 {
		n := min(len(ids), BatchSize)
		_, err := d.client.EnqueueContext(ctx, newDeliverTask(ids[:n], d.queue(p), version))
		if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
			return fmt.Errorf("enqueue emails %s…: %w", ids[0], err)
		}
		ids = ids[n:]
	}
	return nil
}

// Poll enqueues each new email soon after its transaction commits,
// checking every interval until ctx ends: the outbox is polled by the
// transaction id of each row (internal/lib/txpoll).
//
// Each priority has a poller of its own, so that enqueueing a fan-out of a
// million alerts never delays the sign-in email committed after it.
func (d *Dispatcher) Poll(ctx context.Context, interval time.Duration) error {
	var wg sync.WaitGroup
	for _, priority := range Priorities {
		p := txpoll.New(d.db, txpoll.Source{Table: "emails", IDType: "uuid", Where: "status = 'pending' AND priority = $5", Args: []any{priority}},
			BatchSize, func(ctx context.Context, ids []uuid.UUID) error { return d.EnqueueBatch(ctx, ids, priority) })
		wg.Go(func() { p.Run(ctx, interval, "email outbox ("+string(priority)+")") })
	}
	wg.Wait()
	return nil
}

// Sweep enqueues every unfinished email last touched more than olderThan
// ago (0: all of them), most urgent first, and returns how many it handed
// over. With limit > 0 it hands over at most limit emails of each
// priority, the oldest: a bounded look that can run every few seconds.
// Emails still waiting in the queue are not duplicated (TaskID).
func (d *Dispatcher) Sweep(ctx context.Context, olderThan time.Duration, limit int) (int, error) {
	return d.SweepOf(Priorities...)(ctx, olderThan, limit)
}

// SweepOf returns Sweep for the emails of the given priorities only, so
// that a recovery can put transactional emails back before anything else.
func (d *Dispatcher) SweepOf(priorities ...Priority) func(ctx context.Context, olderThan time.Duration, limit int) (int, error) {
	return func(ctx context.Context, olderThan time.Duration, limit int) (int, error) {
		total := 0
		for _, p := range priorities {
			n, err := d.sweep(ctx, p, olderThan, limit)
			total += n
			if err != nil {
				return total, err
			}
		}
		return total, nil
	}
}

// unfinishedEmail is one row of a sweep; pages follow the unfinished
// index: priority, created_at, then id.
type unfinishedEmail struct {
	ID        uuid.UUID `db:"id"`
	CreatedAt time.Time `db:"created_at"`
	UpdatedAt time.Time `db:"updated_at"`
}

func (d *Dispatcher) sweep(ctx context.Context, p Priority, olderThan time.Duration, limit int) (int, error) {
	age := fmt.Sprintf("%d milliseconds", olderThan.Milliseconds())
	// A sweep's batch is told apart by the last change to its emails: a
	// batch that a worker died delivering (its emails claimed since) is
	// queued anew, not mistaken for the dead worker's task, which stays in
	// Redis until asynq gives up on that worker; the same batch swept
	// again unchanged is not queued twice.
	var (
		batch  []uuid.UUID
		latest time.Time
	)
	flush := func(ctx context.Context) error {
		err := d.enqueue(ctx, batch, p, latest.UTC().Format(time.RFC3339Nano))
		batch, latest = batch[:0], time.Time{}
		return err
	}
	n, err := keyset.Walk(ctx, limit,
		func(ctx context.Context, after unfinishedEmail, size int) ([]unfinishedEmail, error) {
			var page []unfinishedEmail
			err := d.db.SelectContext(ctx, &page, `
				SELECT id, created_at, updated_at FROM emails
				WHERE status IN ('pending', 'sending') AND priority = $1 AND updated_at <= now() - $2::interval
				  AND (created_at, id) > ($3, $4)
				ORDER BY created_at, id LIMIT $5`,
				p, age, after.CreatedAt, after.ID, size)
			if err != nil {
				return nil, fmt.Errorf("sweep emails: %w", err)
			}
			return page, nil
		},
		func(ctx context.Context, e unfinishedEmail) error {
			batch = append(batch, e.ID)
			if e.UpdatedAt.After(latest) {
				latest = e.UpdatedAt
			}
			if len(batch) < BatchSize {
				return nil
			}
			return flush(ctx)
		})
	if err == nil && len(batch) > 0 {
		err = flush(ctx)
	}
	return n, err
}

// Purge empties the bodies of emails delivered more than BodyRetention ago,
// and their one-click unsubscribe URLs: they may hold sign-in links and
// unsubscribe tokens and are of no use once sent.
func Purge(ctx context.Context, db *sqlx.DB) (int64, error) {
	res, err := db.ExecContext(ctx, `
		UPDATE emails SET body = '', list_unsubscribe_url = NULL, updated_at = now()
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
	n, err := d.Sweep(ctx, time.Minute, 0)
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
