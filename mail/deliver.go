package mail

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"
)

// TypeDeliver is the asynq task that delivers one outbox email.
const TypeDeliver = "email:deliver"

// MaxAttempts is how many sends an email gets before it is marked failed.
const MaxAttempts = 10

type deliverPayload struct {
	EmailID uuid.UUID `json:"email_id"`
}

// NewDeliverTask returns the task delivering email id. Its TaskID is
// derived from id, so enqueueing the same email twice while it waits is a
// no-op (asynq.ErrTaskIDConflict).
func NewDeliverTask(id uuid.UUID, queue string) *asynq.Task {
	payload, _ := json.Marshal(deliverPayload{EmailID: id}) // cannot fail
	return asynq.NewTask(TypeDeliver, payload,
		asynq.TaskID("email:"+id.String()),
		asynq.Queue(queue),
		asynq.MaxRetry(MaxAttempts),
		asynq.Timeout(time.Minute),
	)
}

// Deliverer handles TypeDeliver tasks.
type Deliverer struct {
	db        *sqlx.DB
	sender    Sender
	limit     *RateLimit // nil: no limit
	onAttempt func(result string)
	composers map[string]Composer // by kind: emails rendered at send time (compose.go)
}

// Limit has every send take a token from l first (nil: no limit).
func (d *Deliverer) Limit(l *RateLimit) { d.limit = l }

// OnAttempt has fn called after every send attempt with its result: sent,
// retry or failed (for metrics).
func (d *Deliverer) OnAttempt(fn func(result string)) { d.onAttempt = fn }

func (d *Deliverer) attempted(result string) {
	if d.onAttempt != nil {
		d.onAttempt(result)
	}
}

// NewDeliverer returns a handler delivering through sender.
func NewDeliverer(db *sqlx.DB, sender Sender) *Deliverer {
	return &Deliverer{db: db, sender: sender}
}

type outboxRow struct {
	ID       uuid.UUID `db:"id"`
	Kind     string    `db:"kind"`
	Address  string    `db:"address"`
	Subject  string    `db:"subject"`
	Body     string    `db:"body"`
	Status   string    `db:"status"`
	Attempts int       `db:"attempts"`
	Priority Priority  `db:"priority"`
}

// ProcessTask delivers one email at most once at a time, and only once in
// all: a session-level advisory lock on the email keeps two workers (or a
// duplicated task) from sending it together, and is released by PostgreSQL
// itself if this worker dies. An email found in status "sending" was being
// sent by a worker that died; a Finder sender is asked whether it went out
// before it is sent again (without one, delivery is at least once). With a
// RateLimit, the send waits for a token, or the task is put back for later
// (RateLimitedError): an email is never dropped for the limit.
func (d *Deliverer) ProcessTask(ctx context.Context, t *asynq.Task) error {
	var p deliverPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return fmt.Errorf("%w: bad payload: %w", asynq.SkipRetry, err)
	}
	return d.Deliver(ctx, p.EmailID)
}

// Deliver delivers the outbox email id, if it still needs delivering.
func (d *Deliverer) Deliver(ctx context.Context, id uuid.UUID) (err error) {
	conn, err := d.db.Connx(ctx)
	if err != nil {
		return fmt.Errorf("deliver %s: %w", id, err)
	}
	defer conn.Close()

	key := int64(binary.BigEndian.Uint64(id[:8]) >> 1) // any stable non-negative key per email
	var locked bool
	if err := conn.GetContext(ctx, &locked, `SELECT pg_try_advisory_lock($1)`, key); err != nil {
		return fmt.Errorf("deliver %s: lock: %w", id, err)
	}
	if !locked {
		return nil // another worker is delivering it right now
	}
	defer func() {
		if _, unlockErr := conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, key); unlockErr != nil {
			// Never return a connection that may still hold the lock to
			// the pool: mark it bad so it is closed.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()

	var row outboxRow
	err = conn.GetContext(ctx, &row, `SELECT id, kind, address, subject, body, status, attempts, priority FROM emails WHERE id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // not ours (another schema) or purged: nothing to do
	}
	if err != nil {
		return fmt.Errorf("deliver %s: %w", id, err)
	}
	switch row.Status {
	case "sent", "failed":
		return nil
	case "sending":
		if done, err := d.alreadySent(ctx, conn, id); err != nil || done {
			return err
		}
	}
	if row.Attempts >= MaxAttempts {
		return d.finish(ctx, conn, id, "failed", "", fmt.Sprintf("gave up after %d attempts", row.Attempts))
	}
	msg, cancelled, err := d.compose(ctx, conn, row.Kind, Message{ID: id, To: row.Address, Subject: row.Subject, Body: row.Body})
	if err != nil || cancelled {
		return err
	}
	if d.limit != nil {
		if err := d.limit.pace(ctx, row.Priority); err != nil {
			return fmt.Errorf("deliver %s: %w", id, err)
		}
	}
	if _, err := conn.ExecContext(ctx, `
		UPDATE emails SET status = 'sending', attempts = attempts + 1, updated_at = now() WHERE id = $1`, id); err != nil {
		return fmt.Errorf("deliver %s: %w", id, err)
	}

	ref, sendErr := d.sender.Send(ctx, msg)
	var permanent *PermanentError
	switch {
	case sendErr == nil:
		d.attempted("sent")
		return d.finish(ctx, conn, id, "sent", ref, "")
	case errors.As(sendErr, &permanent):
		d.attempted("failed")
		slog.WarnContext(ctx, "email failed permanently", "email_id", id, "error", sendErr)
		if err := d.finish(ctx, conn, id, "failed", "", sendErr.Error()); err != nil {
			return err
		}
		return fmt.Errorf("%w: %w", asynq.SkipRetry, sendErr)
	default:
		d.attempted("retry")
		_, err := conn.ExecContext(context.WithoutCancel(ctx), `
			UPDATE emails SET status = 'pending', last_error = $2, updated_at = now() WHERE id = $1`,
			id, truncate(sendErr.Error(), 1000))
		if err != nil {
			return fmt.Errorf("deliver %s: %w (after send error %w)", id, err, sendErr)
		}
		return fmt.Errorf("deliver %s: %w", id, sendErr) // asynq retries with backoff
	}
}

// alreadySent asks a Finder sender whether an interrupted attempt went out,
// and records it as sent if so.
func (d *Deliverer) alreadySent(ctx context.Context, conn *sqlx.Conn, id uuid.UUID) (bool, error) {
	finder, ok := d.sender.(Finder)
	if !ok {
		return false, nil
	}
	ref, found, err := finder.Find(ctx, id)
	if err != nil {
		return false, fmt.Errorf("deliver %s: finding an earlier attempt: %w", id, err)
	}
	if !found {
		return false, nil
	}
	return true, d.finish(ctx, conn, id, "sent", ref, "")
}

func (d *Deliverer) finish(ctx context.Context, conn *sqlx.Conn, id uuid.UUID, status, ref, lastError string) error {
	_, err := conn.ExecContext(context.WithoutCancel(ctx), `
		UPDATE emails SET status = $2, provider_reference = NULLIF($3, ''), last_error = NULLIF($4, ''),
		       sent_at = CASE WHEN $2 = 'sent' THEN now() END, updated_at = now()
		WHERE id = $1`, id, status, ref, truncate(lastError, 1000))
	if err != nil {
		return fmt.Errorf("deliver %s: mark %s: %w", id, status, err)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
