package mail

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// The delivery statuses a provider reports once it has tried to deliver an
// email (GOV.UK Notify's status callback).
const (
	Delivered        = "delivered"
	PermanentFailure = "permanent-failure" // the address does not exist
	TemporaryFailure = "temporary-failure" // the inbox was full, or the like
	TechnicalFailure = "technical-failure" // the provider's own fault
)

// DeliveryStatuses lists every status RecordDeliveryStatus records.
var DeliveryStatuses = []string{Delivered, PermanentFailure, TemporaryFailure, TechnicalFailure}

// ErrUnknownEmail is a delivery report about an email the outbox does not
// hold.
var ErrUnknownEmail = errors.New("no such email in the outbox")

// ErrUnknownStatus is a delivery status not among DeliveryStatuses.
var ErrUnknownStatus = errors.New("unknown delivery status")

// RecordDeliveryStatus records, inside tx, the provider's report that the
// email id (the reference it was sent with) reached status at the time at,
// and returns the address the email went to. Recording the same report
// again changes nothing; a report older than the one recorded is ignored
// (a provider may deliver its callbacks out of order). An id the outbox
// does not hold is ErrUnknownEmail.
func RecordDeliveryStatus(ctx context.Context, tx sqlx.ExtContext, id uuid.UUID, status string, at time.Time) (address string, err error) {
	if !slices.Contains(DeliveryStatuses, status) {
		return "", fmt.Errorf("email %s: %w %q", id, ErrUnknownStatus, status)
	}
	// The row is locked by the update, or read as it is when the report
	// is older than the one recorded: either way its address comes back.
	err = sqlx.GetContext(ctx, tx, &address, `
		WITH recorded AS (
			UPDATE emails SET delivery_status = $2, delivery_status_at = $3, updated_at = now()
			WHERE id = $1 AND (delivery_status_at IS NULL OR delivery_status_at <= $3)
			RETURNING address
		)
		SELECT address FROM recorded
		UNION ALL
		SELECT address FROM emails WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM recorded)`, id, status, at)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("email %s: %w", id, ErrUnknownEmail)
	}
	if err != nil {
		return "", fmt.Errorf("record delivery status of %s: %w", id, err)
	}
	return address, nil
}

// WriteAll adds emails to the outbox inside tx in one statement, as Write
// does each: the emails of a batch of work, written with its change.
func WriteAll(ctx context.Context, tx sqlx.ExtContext, emails []Email) error {
	if len(emails) == 0 {
		return nil
	}
	kinds, to, subjects, bodies, priorities := make([]string, len(emails)), make([]string, len(emails)),
		make([]string, len(emails)), make([]string, len(emails)), make([]string, len(emails))
	for i, e := range emails {
		kinds[i], to[i], subjects[i], bodies[i], priorities[i] = e.Kind, e.To, e.Subject, e.Body, string(e.Priority.orDefault())
	}
	_, err := tx.ExecContext(ctx, `
		INSERT INTO emails (kind, address, subject, body, priority)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])`,
		pq.Array(kinds), pq.Array(to), pq.Array(subjects), pq.Array(bodies), pq.Array(priorities))
	if err != nil {
		return fmt.Errorf("write %d emails: %w", len(emails), err)
	}
	return nil
}
