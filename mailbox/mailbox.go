// Package mailbox is what the service does so that mailbox providers keep
// trusting its mail: it takes GOV.UK Notify's delivery receipts and spam
// reports (callbacks on the API listener, with a token of their own), and
// a list sender's bulk unsubscribe of a whole list.
//
// A receipt is recorded on its email (mail.RecordDeliveryStatus, by the
// reference each send carries: the email's id); a permanent failure, and
// any spam report, also ends every active subscription of the address
// (subscribers.EndAllOfAddressIn), in the same transaction, recorded in the
// subscriber's audit trail with the callback as cause. Both are idempotent
// under Notify's retries: a repeat ends nothing and records nothing.
//
// A bulk unsubscribe is a job stored with its request (table
// bulk_unsubscribes, this package's) in the transaction that answers 202,
// then run by a task that ends the list's active subscriptions in bounded
// batches from a cursor on the job's row, each batch one transaction that
// ends its subscriptions (subscribers.EndListBatch), writes each of their
// subscribers the sender's message (mail.WriteAll, bulk priority) and
// moves the cursor. A crash anywhere resumes from the last committed
// batch; nothing is ended or emailed twice; a sweep enqueues again the
// jobs Redis lost.
package mailbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"

	"email-alert/mail"
	"email-alert/subscribers"
)

// Task types.
const (
	TypeBulkUnsubscribe = "mailbox:bulk-unsubscribe"
	TypeSweep           = "mailbox:sweep"
)

// KindBulkUnsubscribed is the email a bulk unsubscribe sends, rendered
// from templates/email/bulk_unsubscribed.txt.
const KindBulkUnsubscribed = "bulk_unsubscribed"

// Domain errors.
var (
	ErrDuplicate = errors.New("a bulk unsubscribe with this sender_message_id was already received")
)

// Observer is told what happens, for metrics. Every field may be nil.
type Observer struct {
	Callback  func(kind, status string)
	Ended     func(reason string, n int64)
	BulkBatch func(emailed int)
	BulkJob   func(event string)
}

// Service runs the callbacks and the bulk unsubscribes.
type Service struct {
	db        *sqlx.DB
	store     *subscribers.Store
	client    *asynq.Client
	queue     string
	templates *mail.Templates
	batchSize int
	observe   Observer
}

// New returns the service: bulk unsubscribe tasks go to queue through
// client (nil where nothing is enqueued). templates must hold
// KindBulkUnsubscribed.
func New(db *sqlx.DB, store *subscribers.Store, client *asynq.Client, queue string, templates *mail.Templates) (*Service, error) {
	if err := templates.Require(KindBulkUnsubscribed); err != nil {
		return nil, err
	}
	return &Service{db: db, store: store, client: client, queue: queue, templates: templates, batchSize: 1000}, nil
}

// Observe has o told what happens.
func (s *Service) Observe(o Observer) { s.observe = o }

// BatchSize sets how many subscriptions one batch of a bulk unsubscribe
// ends (1000 by default).
func (s *Service) BatchSize(n int) {
	if n > 0 {
		s.batchSize = n
	}
}

func (s *Service) ended(reason string, n int64) {
	if s.observe.Ended != nil && n > 0 {
		s.observe.Ended(reason, n)
	}
}

func (s *Service) callback(kind, status string) {
	if s.observe.Callback != nil {
		s.observe.Callback(kind, status)
	}
}

// enqueue hands a task to asynq; one already waiting (same TaskID) is left
// as it is.
func (s *Service) enqueue(ctx context.Context, t *asynq.Task) error {
	_, err := s.client.EnqueueContext(ctx, t)
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) && !errors.Is(err, asynq.ErrDuplicateTask) {
		return fmt.Errorf("enqueue %s: %w", t.Type(), err)
	}
	return nil
}

// logEnqueueFailure records an enqueue that failed after the commit: the
// job is already durable and the sweep enqueues it again.
func logEnqueueFailure(ctx context.Context, id int64, err error) {
	slog.WarnContext(ctx, "bulk unsubscribe: enqueue failed; the sweep will retry", "bulk_unsubscribe_id", id, "error", err)
}
