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
	ID             int64      `db:"id" json:"id"`
	Address        *string    `db:"address" json:"address"`
	GovukAccountID *string    `db:"govuk_account_id" json:"govuk_account_id"`
	LinkedAt       *time.Time `db:"linked_at" json:"-"`
	CreatedAt      time.Time  `db:"created_at" json:"created_at"`
	UpdatedAt      time.Time  `db:"updated_at" json:"updated_at"`
}

const subscriberColumns = `id, address, govuk_account_id, linked_at, created_at, updated_at`

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
// rest of tx.
func FindOrCreateSubscriber(ctx context.Context, tx *sqlx.Tx, address string) (Subscriber, error) {
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
		return sub, nil
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

// LockSubscriberByAccount returns the subscriber linked to the One Login
// subject sub, locked for the rest of tx, or ErrNotFound.
func LockSubscriberByAccount(ctx context.Context, tx *sqlx.Tx, sub string) (Subscriber, error) {
	var s Subscriber
	err := tx.GetContext(ctx, &s, `SELECT `+subscriberColumns+` FROM subscribers WHERE govuk_account_id = $1 FOR UPDATE`, sub)
	if err != nil {
		return Subscriber{}, fmt.Errorf("subscriber of account: %w", notFound(err, ErrNotFound))
	}
	return s, nil
}

// SubscriberByAccount returns the subscriber linked to sub, or ErrNotFound.
func (s *Store) SubscriberByAccount(ctx context.Context, sub string) (Subscriber, error) {
	var found Subscriber
	err := s.db.GetContext(ctx, &found, `SELECT `+subscriberColumns+` FROM subscribers WHERE govuk_account_id = $1`, sub)
	if err != nil {
		return Subscriber{}, fmt.Errorf("subscriber of account: %w", notFound(err, ErrNotFound))
	}
	return found, nil
}

// LinkAccountIn links the subscriber id to the One Login subject sub,
// replacing any earlier link, inside the caller's transaction. The caller
// holds the subscriber's lock and has checked that no other subscriber is
// linked to sub (the unique index refuses it otherwise).
func LinkAccountIn(ctx context.Context, tx *sqlx.Tx, id int64, sub string) (Subscriber, error) {
	var s Subscriber
	err := tx.GetContext(ctx, &s, `
		UPDATE subscribers SET govuk_account_id = $2, linked_at = now(), updated_at = now()
		WHERE id = $1 RETURNING `+subscriberColumns, id, sub)
	if err != nil {
		return Subscriber{}, fmt.Errorf("link subscriber %d: %w", id, err)
	}
	return s, nil
}

// UnlinkAccountIn removes the subscriber's link to its account, inside the
// caller's transaction.
func UnlinkAccountIn(ctx context.Context, tx *sqlx.Tx, id int64) error {
	_, err := tx.ExecContext(ctx, `
		UPDATE subscribers SET govuk_account_id = NULL, linked_at = NULL, updated_at = now() WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("unlink subscriber %d: %w", id, err)
	}
	return nil
}
