// Package subscribers owns subscriber lists, subscribers and their
// subscriptions: the types, their SQL, the operations on them and their JSON
// API. PostgreSQL enforces the invariants (one address per subscriber,
// case-insensitively; one active subscription per subscriber and list), and
// every operation that touches a subscriber's subscriptions first locks that
// subscriber's row, so concurrent requests for one person are serialised
// while requests for different people run in parallel.
package subscribers

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"email-alert/internal/lib/pgdb"
)

// Domain errors. Handlers map them to statuses with errors.Is.
var (
	ErrNotFound      = errors.New("not found")
	ErrListNotFound  = errors.New("subscriber list not found")
	ErrAddressTaken  = errors.New("address is used by another subscriber")
	ErrAddressLinked = errors.New("address is held by a subscriber linked to a GOV.UK One Login account")
	ErrInvalidOrder  = errors.New("order parameter not valid")
	errRetryConflict = errors.New("concurrent change, retry")
)

// OnSubscribed is called inside the transaction that creates a subscription,
// unless the caller asked to skip the confirmation email. It is where the
// email outbox writes the "You've subscribed" email, so that the email exists
// exactly when the subscription does.
type OnSubscribed func(ctx context.Context, tx *sqlx.Tx, sub Subscription) error

// Store runs the subscriber operations against PostgreSQL.
type Store struct {
	db           *sqlx.DB
	onSubscribed OnSubscribed
}

// NewStore returns a Store on db. onSubscribed may be nil.
func NewStore(db *sqlx.DB, onSubscribed OnSubscribed) *Store {
	return &Store{db: db, onSubscribed: onSubscribed}
}

// InTx runs fn in a transaction (pgdb.InTx), committing when it returns
// nil, with this package's constraint violations turned into domain errors.
// A change that lost a race on a unique index (errRetryConflict) is retried
// a few times: the second attempt sees the winner's committed row. So is
// one PostgreSQL chose as a deadlock's victim. fn must therefore change
// nothing outside tx. Other packages use it to combine this package's *In
// operations atomically.
//
// The deadlock retry stays although the account email change, the pair
// that used to lock subscribers in opposite orders (linking locked the
// linked subscriber before the holder of the new address), now locks both
// in id order in one statement (ChangeAccountAddressIn): other
// transactions still take row locks in several tables in orders no one
// statement fixes (a confirmation link locks its token, then a subscriber;
// an account event its event and cursor, then subscribers; two inserts of
// one address wait on each other's unique index entry), and a victim
// retried once the other has committed is the behaviour callers rely on.
func (s *Store) InTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	for attempt := 0; ; attempt++ {
		err := s.tryTx(ctx, fn)
		if !errors.Is(err, errRetryConflict) || attempt == 2 {
			return err
		}
	}
}

// tryTx is one attempt. Constraints here are not deferred, so the errors
// mapConstraint knows come from fn's statements; at commit, as before,
// they would be mapped too.
func (s *Store) tryTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	return mapConstraint(pgdb.InTx(ctx, s.db, fn))
}

// mapConstraint turns the unique-index violations this package expects into
// domain errors, and leaves any other error as it is.
func mapConstraint(err error) error {
	var pqErr *pq.Error
	if !errors.As(err, &pqErr) {
		return err
	}
	if pqErr.Code == "40P01" { // deadlock_detected: this transaction was rolled back
		return fmt.Errorf("%w: %w", errRetryConflict, err)
	}
	if pqErr.Code == "23503" && pqErr.Constraint == "subscriptions_subscriber_list_id_fkey" {
		// A subscription to a list that does not exist: rather than look
		// the list up first, every insert lets PostgreSQL check it.
		return ErrListNotFound
	}
	if pqErr.Code != "23505" {
		return err
	}
	switch pqErr.Constraint {
	case "subscribers_address_key", "subscriptions_one_active_key", "subscribers_govuk_account_id_key":
		// Another transaction committed the same row first; the retry
		// sees it and takes the path for an existing row.
		return errRetryConflict
	}
	return err
}

// notFound turns sql.ErrNoRows into the given domain error.
func notFound(err, domain error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return domain
	}
	return err
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
