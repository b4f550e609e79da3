package subscribers

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// Subscriber is a person known by an email address, and, once linked, by
// their GOV.UK One Login account.
type Subscriber struct {
	ID             int64   `db:"id" json:"id"`
	Address        *string `db:"address" json:"address"`
	GovukAccountID *string `db:"govuk_account_id" json:"govuk_account_id"`
	// Locale is the language of the subscriber's emails: en or cy.
	Locale    string     `db:"locale" json:"locale"`
	LinkedAt  *time.Time `db:"linked_at" json:"-"`
	CreatedAt time.Time  `db:"created_at" json:"created_at"`
	UpdatedAt time.Time  `db:"updated_at" json:"updated_at"`
}

const subscriberColumns = `id, address, govuk_account_id, locale, linked_at, created_at, updated_at`

// SetLocaleIn makes locale (en or cy: the CHECK refuses anything else) the
// language of subscriber id's emails, in the caller's transaction or on
// the pool. Setting the locale it has writes nothing.
func SetLocaleIn(ctx context.Context, q sqlx.ExecerContext, id int64, locale string) error {
	_, err := q.ExecContext(ctx, `UPDATE subscribers SET locale = $2 WHERE id = $1 AND locale <> $2`, id, locale)
	if err != nil {
		return fmt.Errorf("set locale of %d: %w", id, err)
	}
	return nil
}

// SubscriberByID returns the subscriber with id, or ErrNotFound.
func (s *Store) SubscriberByID(ctx context.Context, id int64) (Subscriber, error) {
	var sub Subscriber
	err := s.db.GetContext(ctx, &sub, `SELECT `+subscriberColumns+` FROM subscribers WHERE id = $1`, id)
	if err != nil {
		return Subscriber{}, fmt.Errorf("subscriber %d: %w", id, notFound(err, ErrNotFound))
	}
	return sub, nil
}

// lockSubscriber locks the subscriber's row for the rest of tx and returns
// it, or ErrNotFound.
func lockSubscriber(ctx context.Context, tx *sqlx.Tx, id int64) (Subscriber, error) {
	var sub Subscriber
	err := tx.GetContext(ctx, &sub, `SELECT `+subscriberColumns+` FROM subscribers WHERE id = $1 FOR UPDATE`, id)
	if err != nil {
		return Subscriber{}, fmt.Errorf("lock subscriber %d: %w", id, notFound(err, ErrNotFound))
	}
	return sub, nil
}

// FindOrCreateSubscriber returns the subscriber with address (compared
// case-insensitively), creating one if needed, with its row locked for the
// rest of tx. A subscriber it creates is recorded as created by cause;
// finding one adds nothing to the audit trail (nor any statement).
func FindOrCreateSubscriber(ctx context.Context, tx *sqlx.Tx, address string, cause Cause) (Subscriber, error) {
	var sub Subscriber
	const find = `SELECT ` + subscriberColumns + ` FROM subscribers WHERE lower(address) = lower($1) FOR UPDATE`
	err := tx.GetContext(ctx, &sub, find, address)
	if err == nil {
		return sub, nil
	}
	if err = notFound(err, ErrNotFound); !isNotFound(err) {
		return Subscriber{}, fmt.Errorf("find subscriber: %w", err)
	}
	// A concurrent insert of the same address makes this one wait and then
	// do nothing; the retry of find below sees the committed row.
	err = tx.GetContext(ctx, &sub, `
		INSERT INTO subscribers (address) VALUES ($1)
		ON CONFLICT ((lower(address))) DO NOTHING
		RETURNING `+subscriberColumns, address)
	if err == nil {
		return sub, recordAudit(ctx, tx, cause, change{subscriberID: sub.ID, action: AuditCreated})
	}
	if err = notFound(err, ErrNotFound); !isNotFound(err) {
		return Subscriber{}, fmt.Errorf("create subscriber: %w", err)
	}
	if err := tx.GetContext(ctx, &sub, find, address); err != nil {
		return Subscriber{}, fmt.Errorf("find new subscriber: %w", err)
	}
	return sub, nil
}

// SubscriberByAddress returns the subscriber with address, compared
// case-insensitively, or ErrNotFound.
func SubscriberByAddress(ctx context.Context, q sqlx.QueryerContext, address string) (Subscriber, error) {
	var sub Subscriber
	err := sqlx.GetContext(ctx, q, &sub, `SELECT `+subscriberColumns+` FROM subscribers WHERE lower(address) = lower($1)`, address)
	if err != nil {
		return Subscriber{}, fmt.Errorf("subscriber by address: %w", notFound(err, ErrNotFound))
	}
	return sub, nil
}

// Linked reports whether the subscriber is linked to a GOV.UK One Login
// account, and so manages its subscriptions only through it.
func (s Subscriber) Linked() bool { return s.GovukAccountID != nil }

// SubscriberByAccount returns the subscriber linked to sub, or ErrNotFound.
func (s *Store) SubscriberByAccount(ctx context.Context, sub string) (Subscriber, error) {
	if !validText(sub) {
		return Subscriber{}, fmt.Errorf("subscriber of account: %w", ErrNotFound)
	}
	var found Subscriber
	err := s.db.GetContext(ctx, &found, `SELECT `+subscriberColumns+` FROM subscribers WHERE govuk_account_id = $1`, sub)
	if err != nil {
		return Subscriber{}, fmt.Errorf("subscriber of account: %w", notFound(err, ErrNotFound))
	}
	return found, nil
}

// LinkAccountIn links the subscriber locked (as read under its lock, which
// the caller holds) to the One Login subject sub, replacing any earlier
// link, inside the caller's transaction, and records it with cause. The
// caller has checked that no other subscriber is linked to sub (the unique
// index refuses it otherwise).
func LinkAccountIn(ctx context.Context, tx *sqlx.Tx, locked Subscriber, sub string, cause Cause) (Subscriber, error) {
	var s Subscriber
	err := tx.GetContext(ctx, &s, `
		UPDATE subscribers SET govuk_account_id = $2, linked_at = now(), updated_at = now()
		WHERE id = $1 RETURNING `+subscriberColumns, locked.ID, sub)
	if err != nil {
		return Subscriber{}, fmt.Errorf("link subscriber %d: %w", locked.ID, err)
	}
	details := map[string]any{"govuk_account_id": sub}
	if locked.GovukAccountID != nil {
		details["replaced_govuk_account_id"] = *locked.GovukAccountID
	}
	return s, recordAudit(ctx, tx, cause, change{subscriberID: s.ID, action: AuditLinked, details: details})
}

// EndAccountIn, inside the caller's transaction, unlinks the subscriber
// linked to the One Login subject sub and ends its active subscriptions
// with reason, recording both with cause (the ending first, when there was
// any). It reports whether a subscriber was linked to sub.
//
// It is one statement: the unlink locks the subscriber before its
// subscriptions are ended, the order every other change takes.
func EndAccountIn(ctx context.Context, tx *sqlx.Tx, sub, reason string, cause Cause) (bool, error) {
	if cause.Kind == "" || cause.ID == "" {
		return false, errNoCause
	}
	var found bool
	err := tx.GetContext(ctx, &found, `
		WITH unlinked AS (
			UPDATE subscribers SET govuk_account_id = NULL, linked_at = NULL, updated_at = now()
			WHERE govuk_account_id = $1
			RETURNING id
		), ended AS (
			UPDATE subscriptions SET ended_at = now(), ended_reason = $2, updated_at = now()
			WHERE subscriber_id = (SELECT id FROM unlinked) AND ended_at IS NULL
			RETURNING 1
		), audit AS (
			INSERT INTO subscriber_audit (subscriber_id, action, cause_kind, cause_id, details)
			SELECT u.id, a.action, $5, $6, a.details
			FROM unlinked u, (
				SELECT 1 AS n, $3::text AS action, jsonb_build_object('reason', $2::text, 'count', count(*)) AS details
				FROM ended HAVING count(*) > 0
				UNION ALL
				SELECT 2, $4::text, jsonb_build_object('govuk_account_id', $1::text)
			) a
			ORDER BY a.n
		)
		SELECT EXISTS (SELECT 1 FROM unlinked)`, sub, reason, AuditSubscriptionsEnded, AuditUnlinked, cause.Kind, cause.ID)
	if err != nil {
		return false, fmt.Errorf("end the subscriber of account: %w", err)
	}
	return found, nil
}
