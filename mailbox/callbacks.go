package mailbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"email-alert/mail"
	"email-alert/subscribers"
)

// StatusUpdate is Notify's delivery receipt for one email, as the handler
// has checked it.
type StatusUpdate struct {
	NotificationID uuid.UUID // Notify's id of the notification
	Reference      uuid.UUID // ours: the email's outbox id
	Status         string    // one of mail.DeliveryStatuses
	At             time.Time // when Notify finished (completed_at), else when it told us
}

// RecordStatus records u on its email and, for a permanent failure, ends
// every active subscription of the address the email went to
// (non_existent_email), in one transaction, recorded with the callback as
// cause. It returns how many subscriptions it ended. A reference the
// outbox does not hold (an email never ours, or from a schema since
// dropped) is recorded nowhere and is no error: answering it with an
// error would only have Notify retry it for days.
func (s *Service) RecordStatus(ctx context.Context, u StatusUpdate) (int64, error) {
	var ended int64
	err := s.store.InTx(ctx, func(tx *sqlx.Tx) error {
		ended = 0
		address, err := mail.RecordDeliveryStatus(ctx, tx, u.Reference, u.Status, u.At)
		if errors.Is(err, mail.ErrUnknownEmail) {
			slog.InfoContext(ctx, "status update for an email the outbox does not hold", "reference", u.Reference,
				"notification_id", u.NotificationID)
			return nil
		}
		if err != nil {
			return err
		}
		if u.Status != mail.PermanentFailure {
			return nil
		}
		ended, err = subscribers.EndAllOfAddressIn(ctx, tx, address, subscribers.EndedNonExistentEmail,
			subscribers.CallbackCause("status-update", u.NotificationID.String()))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("status update %s: %w", u.NotificationID, err)
	}
	s.callback("status_update", u.Status)
	s.ended(subscribers.EndedNonExistentEmail, ended)
	return ended, nil
}

// SpamReport is Notify's report that the person at To marked an email as
// spam; Reference, when Notify gives it, is the email's outbox id.
type SpamReport struct {
	To        string
	Reference *uuid.UUID
}

// ReportSpam ends every active subscription of the address r names
// (marked_as_spam), recorded with the callback as cause, and returns how
// many it ended. An address no subscriber holds ends nothing and is no
// error, so the answer never tells whether an address is known. A report
// again ends nothing more and records nothing.
func (s *Service) ReportSpam(ctx context.Context, r SpamReport) (int64, error) {
	what := "unreferenced"
	if r.Reference != nil {
		what = r.Reference.String()
	}
	var ended int64
	err := s.store.InTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		ended, err = subscribers.EndAllOfAddressIn(ctx, tx, r.To, subscribers.EndedMarkedAsSpam,
			subscribers.CallbackCause("spam-report", what))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("spam report: %w", err)
	}
	s.callback("spam_report", "spam")
	s.ended(subscribers.EndedMarkedAsSpam, ended)
	return ended, nil
}
