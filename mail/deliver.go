package mail

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// TypeDeliver is the asynq task that delivers a batch of outbox emails.
const TypeDeliver = "email:deliver"

// MaxAttempts is how many sends an email gets before it is marked failed.
const MaxAttempts = 10

// BatchSize is the most emails one delivery task carries. Its emails are
// claimed with one statement, sent to the provider side by side, and their
// outcomes written with one statement: a task's Redis and PostgreSQL work
// is shared by up to this many emails.
const BatchSize = 50

type deliverPayload struct {
	EmailIDs []uuid.UUID `json:"email_ids,omitempty"`
	EmailID  uuid.UUID   `json:"email_id,omitzero"` // a task of one email, as queued before batches
}

// NewDeliverTask returns the task delivering email id.
func NewDeliverTask(id uuid.UUID, queue string) *asynq.Task {
	return NewDeliverBatchTask([]uuid.UUID{id}, queue)
}

// NewDeliverBatchTask returns the task delivering emails ids (at most
// BatchSize, all of one priority). Its TaskID is derived from the ids, so
// enqueueing the same batch twice while it waits is a no-op
// (asynq.ErrTaskIDConflict).
func NewDeliverBatchTask(ids []uuid.UUID, queue string) *asynq.Task {
	return newDeliverTask(ids, queue, "")
}

// newDeliverTask is NewDeliverBatchTask with version, which tells apart
// batches of the same emails in different states (see Dispatcher.sweep).
func newDeliverTask(ids []uuid.UUID, queue, version string) *asynq.Task {
	payload, _ := json.Marshal(deliverPayload{EmailIDs: ids}) // cannot fail
	taskID := "email:" + ids[0].String()
	if len(ids) > 1 || version != "" {
		h := fnv.New128a()
		for _, id := range ids {
			h.Write(id[:])
		}
		h.Write([]byte(version))
		taskID = "emails:" + hex.EncodeToString(h.Sum(nil))
	}
	return asynq.NewTask(TypeDeliver, payload,
		asynq.TaskID(taskID),
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
	locks     *lockSession
	// recordTimeout bounds the write of a batch's outcomes.
	recordTimeout time.Duration
}

// recordTimeout is how long a batch's outcomes may take to be written: a
// statement of one row per email, which takes milliseconds when
// PostgreSQL answers at all.
const recordTimeout = 30 * time.Second

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
	return &Deliverer{db: db, sender: sender, locks: newLockSession(db), recordTimeout: recordTimeout}
}

// claimedRow is an email as its claim returns it: status and attempts are
// as they were before the claim.
type claimedRow struct {
	ID       uuid.UUID `db:"id"`
	Kind     string    `db:"kind"`
	Address  string    `db:"address"`
	Subject  string    `db:"subject"`
	Body     string    `db:"body"`
	Priority Priority  `db:"priority"`
	OneClick string    `db:"list_unsubscribe_url"`
	Was      string    `db:"was"`
	Attempts int       `db:"attempts"`
}

// ProcessTask delivers the task's emails, each at most once at a time and
// only once in all. Every email is locked with a session-level advisory
// lock held by one PostgreSQL session of this Deliverer (lockSession), so
// no other worker, and no duplicated task, sends it meanwhile; PostgreSQL
// releases the locks itself if the worker dies. The lock is all that is
// held during the provider call: no connection of the pool waits on it.
// An email found in status "sending" was being sent by a worker that died;
// a Finder sender is asked whether it went out before it is sent again
// (without one, delivery is at least once). With a RateLimit, each send
// takes a token first, or the task is put back for later
// (RateLimitedError): an email is never dropped for the limit.
func (d *Deliverer) ProcessTask(ctx context.Context, t *asynq.Task) error {
	var p deliverPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return fmt.Errorf("%w: bad payload: %w", asynq.SkipRetry, err)
	}
	ids := p.EmailIDs
	if p.EmailID != uuid.Nil {
		ids = append(ids, p.EmailID)
	}
	if len(ids) == 0 {
		return fmt.Errorf("%w: no email in the payload", asynq.SkipRetry)
	}
	return d.DeliverBatch(ctx, ids)
}

// Deliver delivers the outbox email id, if it still needs delivering.
func (d *Deliverer) Deliver(ctx context.Context, id uuid.UUID) error {
	return d.DeliverBatch(ctx, []uuid.UUID{id})
}

// DeliverBatch delivers the outbox emails ids that still need delivering.
// It returns an error wrapping asynq.SkipRetry when the only failures were
// permanent ones, and a *RateLimitedError when some emails are left for
// when the rate limit has tokens again.
func (d *Deliverer) DeliverBatch(ctx context.Context, ids []uuid.UUID) error {
	for len(ids) > 0 {
		n := min(len(ids), BatchSize)
		if err := d.deliverGroup(ctx, ids[:n]); err != nil {
			return err // the rest is delivered when the task runs again
		}
		ids = ids[n:]
	}
	return nil
}

// joinFailures returns nil, or the failures with asynq.SkipRetry when all
// of them are permanent.
func joinFailures(failures []error) error {
	if len(failures) == 0 {
		return nil
	}
	err := errors.Join(failures...)
	for _, f := range failures {
		if !errors.Is(f, asynq.SkipRetry) {
			return err
		}
	}
	return fmt.Errorf("%w: %w", asynq.SkipRetry, err)
}

// outcome is what became of one claimed email.
type outcome struct {
	id        uuid.UUID
	status    string // sent, failed or pending (to be retried)
	ref       string
	lastError string
	attempts  int   // as the claim left it, or as it was when put back
	putBack   bool  // claimed but not sent (no rate-limit token): as it was
	err       error // what the task reports for it
}

// deliverGroup locks, claims, sends and records ids: one statement for the
// locks, one for the claim, the sends side by side, one statement for the
// outcomes and one to unlock.
func (d *Deliverer) deliverGroup(ctx context.Context, ids []uuid.UUID) error {
	locked, gen, err := d.locks.acquire(ctx, ids)
	if err != nil {
		return fmt.Errorf("deliver %s: lock: %w", ids[0], err)
	}
	if len(locked) == 0 {
		return nil // other workers are delivering them right now
	}
	defer d.locks.release(gen, locked)

	var rows []claimedRow
	err = d.db.SelectContext(ctx, &rows, `
		UPDATE emails e SET status = 'sending', updated_at = now(),
		       attempts = e.attempts + CASE WHEN e.attempts < $2 THEN 1 ELSE 0 END
		FROM emails old
		WHERE e.id = ANY($1::uuid[]) AND old.id = e.id AND e.status IN ('pending', 'sending')
		RETURNING e.id, e.kind, e.address, e.subject, e.body, e.priority,
		          COALESCE(e.list_unsubscribe_url, '') AS list_unsubscribe_url, old.status AS was, old.attempts`,
		uuidArray(locked), MaxAttempts)
	if err != nil {
		return fmt.Errorf("deliver %s: claim: %w", locked[0], err)
	}
	if len(rows) == 0 {
		return nil // sent, failed, purged or not ours
	}
	outcomes := make([]outcome, len(rows))
	var limited error
	var waited time.Duration // pacing for the limit, in this task
	for done := 0; done < len(rows); {
		n := len(rows) - done
		if d.limit != nil {
			// Tokens are taken just before the sends, so that sends reach
			// the provider as the limit lets them out.
			granted, wait, err := d.limit.paceN(ctx, rows[0].Priority, n, maxPaceWait-waited)
			waited += wait
			if err != nil {
				limited = fmt.Errorf("deliver %s: %w", rows[done].ID, err)
				for i := done; i < len(rows); i++ { // put back as they were
					outcomes[i] = outcome{id: rows[i].ID, status: rows[i].Was, attempts: rows[i].Attempts, putBack: true}
				}
				break
			}
			n = granted
		}
		var wg sync.WaitGroup
		for i := done; i < done+n; i++ {
			wg.Go(func() { outcomes[i] = d.deliverOne(ctx, rows[i]) })
		}
		wg.Wait()
		done += n
	}

	// The sends have happened, so their outcomes are written even when the
	// task's context has ended; but not for ever: the write holds the lock
	// session, and with it every delivery of this worker. One that times
	// out leaves the emails "sending", as a crash would, and the next
	// attempt asks the provider.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.recordTimeout)
	defer cancel()
	if err := d.locks.record(rctx, gen, outcomes); err != nil {
		return fmt.Errorf("deliver %s: mark outcomes: %w", rows[0].ID, err)
	}
	var failures []error
	for _, o := range outcomes {
		if o.err != nil {
			failures = append(failures, o.err)
		}
	}
	if err := joinFailures(failures); err != nil {
		return err // retried with backoff, the emails put back with them
	}
	return limited
}

// deliverOne sends one claimed email and says what became of it.
func (d *Deliverer) deliverOne(ctx context.Context, row claimedRow) outcome {
	o := outcome{id: row.ID, attempts: min(row.Attempts+1, MaxAttempts)}
	if row.Attempts >= MaxAttempts {
		o.attempts = row.Attempts
	}
	if row.Was == "sending" {
		ref, found, err := d.alreadySent(ctx, row.ID)
		if err != nil {
			return d.retry(o, err)
		}
		if found {
			o.status, o.ref = "sent", ref
			return o
		}
	}
	if row.Attempts >= MaxAttempts {
		o.status, o.lastError = "failed", fmt.Sprintf("gave up after %d attempts", row.Attempts)
		return o
	}
	msg, err := d.compose(ctx, row.Kind, Message{
		ID: row.ID, To: row.Address, Subject: row.Subject, Body: row.Body, ListUnsubscribeURL: row.OneClick,
	})
	if errors.Is(err, ErrCancelled) {
		o.status, o.lastError = "failed", err.Error()
		return o
	}
	if err != nil {
		return d.retry(o, err)
	}
	ref, sendErr := d.sender.Send(ctx, msg)
	var permanent *PermanentError
	switch {
	case sendErr == nil:
		d.attempted("sent")
		o.status, o.ref = "sent", ref
	case errors.As(sendErr, &permanent):
		d.attempted("failed")
		slog.WarnContext(ctx, "email failed permanently", "email_id", row.ID, "error", sendErr)
		o.status, o.lastError = "failed", sendErr.Error()
		o.err = fmt.Errorf("%w: %w", asynq.SkipRetry, sendErr)
	default:
		d.attempted("retry")
		o = d.retry(o, sendErr)
	}
	return o
}

// retry records a transient failure: the email is pending again, and the
// task fails so that asynq tries it again with backoff.
func (d *Deliverer) retry(o outcome, err error) outcome {
	o.status, o.lastError = "pending", err.Error()
	o.err = fmt.Errorf("deliver %s: %w", o.id, err)
	return o
}

// alreadySent asks a Finder sender whether an interrupted attempt went out.
func (d *Deliverer) alreadySent(ctx context.Context, id uuid.UUID) (string, bool, error) {
	finder, ok := d.sender.(Finder)
	if !ok {
		return "", false, nil
	}
	ref, found, err := finder.Find(ctx, id)
	if err != nil {
		return "", false, fmt.Errorf("finding an earlier attempt: %w", err)
	}
	return ref, found, nil
}

func uuidArray(ids []uuid.UUID) any {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = id.String()
	}
	return pq.Array(s)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
