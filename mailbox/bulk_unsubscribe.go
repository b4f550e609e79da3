package mailbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/lib/pq"

	"email-alert/mail"
	"email-alert/subscribers"
)

// BulkUnsubscribe is a sender's request to end every active subscription
// of a list, emailing each subscriber Body when it is given (then
// SenderMessageID is too, and names the message: the same id again is
// ErrDuplicate).
type BulkUnsubscribe struct {
	Slug            string
	Body            *string
	SenderMessageID *uuid.UUID
	Client          string // the API client asking (jsonapi.Client)
}

// RequestBulkUnsubscribe stores the job of r, in one statement, and
// enqueues its task; it returns the job's id. The job is durable before
// the caller answers: a failed enqueue is left to the sweep. An unknown
// list is subscribers.ErrListNotFound; a sender_message_id already
// received is ErrDuplicate.
func (s *Service) RequestBulkUnsubscribe(ctx context.Context, r BulkUnsubscribe) (int64, error) {
	list, err := s.store.ListBySlug(ctx, r.Slug)
	if err != nil {
		return 0, err
	}
	var id int64
	err = s.db.GetContext(ctx, &id, `
		INSERT INTO bulk_unsubscribes (subscriber_list_id, sender_message_id, body, client)
		VALUES ($1, $2, $3, $4) RETURNING id`, list.ID, r.SenderMessageID, r.Body, r.Client)
	var pqErr *pq.Error
	if errors.As(err, &pqErr) && pqErr.Code == "23505" && pqErr.Constraint == "bulk_unsubscribes_sender_message_id_key" {
		return 0, ErrDuplicate
	}
	if err != nil {
		return 0, fmt.Errorf("store bulk unsubscribe of %s: %w", r.Slug, err)
	}
	if s.observe.BulkJob != nil {
		s.observe.BulkJob("accepted")
	}
	slog.InfoContext(ctx, "bulk unsubscribe accepted", "bulk_unsubscribe_id", id, "subscriber_list_id", list.ID,
		"with_message", r.Body != nil)
	if err := s.enqueue(ctx, s.bulkTask(id)); err != nil {
		logEnqueueFailure(ctx, id, err)
	}
	return id, nil
}

type bulkPayload struct {
	ID int64 `json:"bulk_unsubscribe_id"`
}

// bulkTask is the task of job id. TaskID names the job, so a job is
// queued at most once at a time.
func (s *Service) bulkTask(id int64) *asynq.Task {
	payload, _ := json.Marshal(bulkPayload{ID: id}) // cannot fail
	return asynq.NewTask(TypeBulkUnsubscribe, payload, asynq.TaskID("bulk-unsubscribe:"+strconv.FormatInt(id, 10)),
		asynq.Queue(s.queue), asynq.MaxRetry(25), asynq.Timeout(30*time.Minute))
}

// ProcessTask handles TypeBulkUnsubscribe.
func (s *Service) ProcessTask(ctx context.Context, t *asynq.Task) error {
	var p bulkPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return fmt.Errorf("%w: bad payload: %w", asynq.SkipRetry, err)
	}
	return s.RunBulkUnsubscribe(ctx, p.ID)
}

// RunBulkUnsubscribe runs job id to its end, batch by batch, each batch in
// a transaction that holds the job's row, ends up to a batch of the list's
// active subscriptions, writes their subscribers' emails and moves the
// cursor. Interrupted anywhere, it resumes from the last committed batch;
// two workers on one job take turns on its row. Memory is one batch.
func (s *Service) RunBulkUnsubscribe(ctx context.Context, id int64) error {
	for {
		done, err := s.bulkStep(ctx, id)
		if err != nil || done {
			return err
		}
	}
}

type bulkJob struct {
	ListID    int64     `db:"subscriber_list_id"`
	Title     string    `db:"title"`
	Body      *string   `db:"body"`
	Client    string    `db:"client"`
	Status    string    `db:"status"`
	Frequency string    `db:"cursor_frequency"`
	After     int64     `db:"cursor_subscriber_id"`
	Ended     int64     `db:"ended"`
	Emailed   int64     `db:"emailed"`
	CreatedAt time.Time `db:"created_at"`
}

// bulkStep does one batch of job id.
func (s *Service) bulkStep(ctx context.Context, id int64) (done bool, err error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("bulk unsubscribe %d: %w", id, err)
	}
	defer func() { _ = tx.Rollback() }()
	var job bulkJob
	err = tx.GetContext(ctx, &job, `
		SELECT j.subscriber_list_id, l.title, j.body, j.client, j.status, j.cursor_frequency,
		       j.cursor_subscriber_id, j.ended, j.emailed, j.created_at
		FROM bulk_unsubscribes j JOIN subscriber_lists l ON l.id = j.subscriber_list_id
		WHERE j.id = $1 FOR UPDATE OF j`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return true, nil // another schema's task, or never stored
	}
	if err != nil {
		return false, fmt.Errorf("bulk unsubscribe %d: %w", id, err)
	}
	if job.Status == "done" {
		return true, nil
	}
	batch, err := subscribers.EndListBatch(ctx, tx, job.ListID,
		subscribers.ListCursor{Frequency: job.Frequency, SubscriberID: job.After}, s.batchSize,
		subscribers.EndedBulkUnsubscribed, subscribers.APICause(job.Client))
	if err != nil {
		return false, fmt.Errorf("bulk unsubscribe %d: %w", id, err)
	}
	emails, err := s.bulkEmails(job, batch.Ended)
	if err != nil {
		return false, fmt.Errorf("bulk unsubscribe %d: %w", id, err)
	}
	if err := mail.WriteAll(ctx, tx, emails); err != nil {
		return false, fmt.Errorf("bulk unsubscribe %d: %w", id, err)
	}
	last := batch.Read < s.batchSize
	status := "pending"
	if last {
		status = "done"
	}
	_, err = tx.ExecContext(ctx, `
		UPDATE bulk_unsubscribes SET cursor_frequency = $2, cursor_subscriber_id = $3, ended = ended + $4,
		       emailed = emailed + $5, status = $6, done_at = CASE WHEN $6 = 'done' THEN now() END, updated_at = now()
		WHERE id = $1`, id, batch.Next.Frequency, batch.Next.SubscriberID, len(batch.Ended), len(emails), status)
	if err != nil {
		return false, fmt.Errorf("bulk unsubscribe %d: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("bulk unsubscribe %d: commit: %w", id, err)
	}
	s.ended(subscribers.EndedBulkUnsubscribed, int64(len(batch.Ended)))
	if s.observe.BulkBatch != nil {
		s.observe.BulkBatch(len(emails))
	}
	slog.InfoContext(ctx, "bulk unsubscribe batch", "bulk_unsubscribe_id", id, "subscriber_list_id", job.ListID,
		"ended", len(batch.Ended), "emailed", len(emails),
		"ended_total", job.Ended+int64(len(batch.Ended)), "emailed_total", job.Emailed+int64(len(emails)), "done", last)
	if last && s.observe.BulkJob != nil {
		s.observe.BulkJob("finished")
	}
	return last, nil
}

// bulkEmails are the emails of the subscriptions a batch ended: the
// sender's message to each subscriber with an address, when the job has
// one, in the subscriber's language. The message is the same for everyone
// of a language, so it is rendered once for each.
func (s *Service) bulkEmails(job bulkJob, ended []subscribers.EndedSubscription) ([]mail.Email, error) {
	if job.Body == nil || len(ended) == 0 {
		return nil, nil
	}
	rendered := map[string]mail.Email{}
	emails := make([]mail.Email, 0, len(ended))
	for _, sub := range ended {
		if sub.Address == "" {
			continue
		}
		e, ok := rendered[sub.Locale]
		if !ok {
			var err error
			e, err = s.templates.Render(KindBulkUnsubscribed, sub.Locale, "", struct {
				Title string
				Lines []string
			}{job.Title, strings.Split(strings.TrimSpace(*job.Body), "\n")})
			if err != nil {
				return nil, err
			}
			e.Priority = mail.Normal
			rendered[sub.Locale] = e
		}
		e.To = sub.Address
		emails = append(emails, e)
	}
	return emails, nil
}

// Sweep enqueues again every bulk unsubscribe not done and untouched for
// olderThan (0: all of them), in case Redis lost its task or its enqueue
// failed, up to limit jobs (0: no limit). Tasks still waiting are not
// duplicated (TaskID); a job found running twice still ends and emails
// each subscription once (its row lock). It returns how many it enqueued.
func (s *Service) Sweep(ctx context.Context, olderThan time.Duration, limit int) (int, error) {
	if limit <= 0 {
		limit = 10000
	}
	var ids []int64
	err := s.db.SelectContext(ctx, &ids, `
		SELECT id FROM bulk_unsubscribes
		WHERE status = 'pending' AND updated_at <= now() - $1::interval
		ORDER BY created_at LIMIT $2`, fmt.Sprintf("%d milliseconds", olderThan.Milliseconds()), limit)
	if err != nil {
		return 0, fmt.Errorf("sweep bulk unsubscribes: %w", err)
	}
	for i, id := range ids {
		if err := s.enqueue(ctx, s.bulkTask(id)); err != nil {
			return i, err
		}
	}
	return len(ids), nil
}

// SweepHandler handles TypeSweep: jobs untouched for a minute are enqueued
// again.
func (s *Service) SweepHandler(ctx context.Context, _ *asynq.Task) error {
	n, err := s.Sweep(ctx, time.Minute, 0)
	if n > 0 {
		slog.InfoContext(ctx, "bulk unsubscribe sweep", "enqueued", n)
	}
	return err
}
