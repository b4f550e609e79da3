package subscribers

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
)

// Frequency is how often a subscriber hears about a list.
type Frequency string

// The frequencies, most frequent first.
const (
	Immediately Frequency = "immediately"
	Daily       Frequency = "daily"
	Weekly      Frequency = "weekly"
)

// InvalidFrequency is the problem of a frequency ParseFrequency refuses,
// as the APIs write it after the field name.
const InvalidFrequency = "must be one of immediately, daily or weekly"

// ParseFrequency returns the frequency named s, and false for anything else.
func ParseFrequency(s string) (Frequency, bool) {
	switch f := Frequency(s); f {
	case Immediately, Daily, Weekly:
		return f, true
	}
	return "", false
}

// frequencyRank lists the frequencies from the most frequent: where two
// subscriptions to a list merge, the earlier one here wins.
var frequencyRank = []string{string(Immediately), string(Daily), string(Weekly)}

// Why a subscription was created (Source) or ended (EndedReason).
const (
	SourceUserSignedUp     = "user_signed_up"
	SourceFrequencyChanged = "frequency_changed"
	SourceSubscriberMerged = "subscriber_merged"

	EndedUnsubscribed     = "unsubscribed"
	EndedFrequencyChanged = "frequency_changed"
	EndedSubscriberMerged = "subscriber_merged"
	// Mailbox trust (see mailbox/): the address bounced for good, its
	// owner marked an email as spam, or the list's sender ended it.
	EndedNonExistentEmail = "non_existent_email"
	EndedMarkedAsSpam     = "marked_as_spam"
	EndedBulkUnsubscribed = "bulk_unsubscribed"
)

// Subscription is one subscriber's subscription to one list. Changing the
// frequency ends it and creates a new one, so a subscription never changes
// after it ends.
type Subscription struct {
	ID          uuid.UUID        `db:"id" json:"id"`
	Frequency   Frequency        `db:"frequency" json:"frequency"`
	Source      string           `db:"source" json:"source"`
	CreatedAt   time.Time        `db:"created_at" json:"created_at"`
	UpdatedAt   time.Time        `db:"updated_at" json:"updated_at"`
	EndedAt     *time.Time       `db:"ended_at" json:"ended_at"`
	EndedReason *string          `db:"ended_reason" json:"ended_reason"`
	List        ListWithCriteria `db:"list" json:"subscriber_list"`
	Subscriber  Subscriber       `db:"subscriber" json:"subscriber"`
}

// Active reports whether the subscription has not ended.
func (s Subscription) Active() bool { return s.EndedAt == nil }

// subscriptionSelect selects a subscription with its list and subscriber,
// in the column names sqlx maps onto Subscription.
const subscriptionSelect = `
	SELECT s.id, s.frequency, s.source, s.created_at, s.updated_at, s.ended_at, s.ended_reason,
	       l.id AS "list.id", l.slug AS "list.slug", l.title AS "list.title", l.url AS "list.url",
	       l.description AS "list.description", l.created_at AS "list.created_at",
	       l.updated_at AS "list.updated_at", l.tags AS "list.tags", l.links AS "list.links",
	       l.document_type AS "list.document_type", l.email_document_supertype AS "list.email_document_supertype",
	       l.government_document_supertype AS "list.government_document_supertype",
	       l.content_id AS "list.content_id",
	       p.id AS "subscriber.id", p.address AS "subscriber.address",
	       p.govuk_account_id AS "subscriber.govuk_account_id", p.locale AS "subscriber.locale",
	       p.linked_at AS "subscriber.linked_at",
	       p.created_at AS "subscriber.created_at", p.updated_at AS "subscriber.updated_at"
	FROM subscriptions s
	JOIN subscriber_lists l ON l.id = s.subscriber_list_id
	JOIN subscribers p ON p.id = s.subscriber_id`

func subscriptionByID(ctx context.Context, q sqlx.QueryerContext, id uuid.UUID) (Subscription, error) {
	var sub Subscription
	if err := sqlx.GetContext(ctx, q, &sub, subscriptionSelect+` WHERE s.id = $1`, id); err != nil {
		return Subscription{}, fmt.Errorf("subscription %s: %w", id, notFound(err, ErrNotFound))
	}
	return sub, nil
}

// Subscription returns the subscription with id, ended or not, or ErrNotFound.
func (s *Store) Subscription(ctx context.Context, id uuid.UUID) (Subscription, error) {
	return subscriptionByID(ctx, s.db, id)
}

// LatestSubscription returns the newest subscription of the same subscriber
// to the same list as the subscription with id (which may be that one).
func (s *Store) LatestSubscription(ctx context.Context, id uuid.UUID) (Subscription, error) {
	var sub Subscription
	err := s.db.GetContext(ctx, &sub, subscriptionSelect+`
		WHERE (s.subscriber_id, s.subscriber_list_id) =
		      (SELECT subscriber_id, subscriber_list_id FROM subscriptions WHERE id = $1)
		ORDER BY s.created_at DESC, s.id DESC
		LIMIT 1`, id)
	if err != nil {
		return Subscription{}, fmt.Errorf("latest subscription of %s: %w", id, notFound(err, ErrNotFound))
	}
	return sub, nil
}

// LatestSubscriptionTo returns the newest subscription of the subscriber
// to the list, ended or not, or ErrNotFound when there has never been one.
// When one is active it is that one: a subscription is created active, and
// only once the one before it has ended.
func LatestSubscriptionTo(ctx context.Context, q sqlx.QueryerContext, subscriberID, listID int64) (Subscription, error) {
	var sub Subscription
	err := sqlx.GetContext(ctx, q, &sub, subscriptionSelect+`
		WHERE s.subscriber_id = $1 AND s.subscriber_list_id = $2
		ORDER BY s.created_at DESC, s.id DESC
		LIMIT 1`, subscriberID, listID)
	if err != nil {
		return Subscription{}, fmt.Errorf("latest subscription of %d to %d: %w", subscriberID, listID, notFound(err, ErrNotFound))
	}
	return sub, nil
}

// activeSubscription returns subscriber's active subscription to list, or
// ErrNotFound. The caller holds the subscriber's lock.
func activeSubscription(ctx context.Context, tx *sqlx.Tx, subscriberID, listID int64) (Subscription, error) {
	var sub Subscription
	err := tx.GetContext(ctx, &sub, subscriptionSelect+`
		WHERE s.subscriber_id = $1 AND s.subscriber_list_id = $2 AND s.ended_at IS NULL`, subscriberID, listID)
	if err != nil {
		return Subscription{}, fmt.Errorf("active subscription: %w", notFound(err, ErrNotFound))
	}
	return sub, nil
}

// endSubscription ends the active subscription id with reason; it reports
// whether there was one to end.
func endSubscription(ctx context.Context, tx *sqlx.Tx, id uuid.UUID, reason string) (bool, error) {
	res, err := tx.ExecContext(ctx, `
		UPDATE subscriptions SET ended_at = now(), ended_reason = $2, updated_at = now()
		WHERE id = $1 AND ended_at IS NULL`, id, reason)
	if err != nil {
		return false, fmt.Errorf("end subscription %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// insertSubscriptionQuery inserts a subscription and reads it back with its
// list and subscriber in the same statement: subscriptionSelect, reading
// the inserted row instead of the table (which the statement cannot see).
var insertSubscriptionQuery = `
	WITH s AS (
		INSERT INTO subscriptions (subscriber_id, subscriber_list_id, frequency, source)
		VALUES ($1, $2, $3, $4) RETURNING *
	)` + strings.Replace(subscriptionSelect, "FROM subscriptions s", "FROM s", 1)

// subscribeExistingQuery is the usual subscribe in one statement: it locks
// the subscriber with the address ($1), locks its active subscription to
// the list ($2) if it has one, and otherwise inserts one at frequency $3
// with source $4; it returns whichever of the two there is, read back with
// its list and subscriber, and whether it was inserted. It returns no row
// when no subscriber has the address, or when another transaction created
// an active subscription to the list while this one waited for the lock.
//
// Both locks are taken before anything is read back: a concurrent change to
// either row that commits first is seen (PostgreSQL re-reads a row it waited
// to lock and applies the WHERE to the new version), so a subscription ended
// in the meantime is not returned. One created in the meantime is not in
// this statement's snapshot, but subscriptions_one_active_key is: the insert
// does nothing, and the caller's next statement, with a newer snapshot,
// finds it.
var subscribeExistingQuery = `
	WITH p AS (
		SELECT id FROM subscribers WHERE lower(address) = lower($1) FOR UPDATE
	), a AS (
		SELECT * FROM subscriptions
		WHERE subscriber_id = (SELECT id FROM p) AND subscriber_list_id = $2 AND ended_at IS NULL
		FOR UPDATE
	), i AS (
		INSERT INTO subscriptions (subscriber_id, subscriber_list_id, frequency, source)
		SELECT id, $2, $3, $4 FROM p WHERE NOT EXISTS (SELECT FROM a)
		ON CONFLICT (subscriber_id, subscriber_list_id) WHERE ended_at IS NULL DO NOTHING
		RETURNING *
	)` + mustReplace(subscriptionSelect, "FROM subscriptions s",
	", s.created AS inserted FROM (SELECT *, true AS created FROM i UNION ALL SELECT *, false FROM a) s")

// mustReplace replaces the one old in s, and panics (at start-up) if there
// is none: a query built from another would otherwise read the wrong rows.
func mustReplace(s, old, new string) string {
	if strings.Count(s, old) != 1 {
		panic(fmt.Sprintf("subscribers: %q is not once in %q", old, s))
	}
	return strings.Replace(s, old, new, 1)
}

// subscribed is a row of subscribeExistingQuery.
type subscribed struct {
	Subscription
	Inserted bool `db:"inserted"`
}

// subscribeExisting runs subscribeExistingQuery: ErrNotFound when it
// returns no row.
func subscribeExisting(ctx context.Context, tx *sqlx.Tx, address string, listID int64, f Frequency) (subscribed, error) {
	var got subscribed
	err := tx.GetContext(ctx, &got, subscribeExistingQuery, address, listID, f, SourceUserSignedUp)
	if err != nil {
		return subscribed{}, fmt.Errorf("subscribe: %w", notFound(err, ErrNotFound))
	}
	return got, nil
}

// insertSubscription creates an active subscription and returns it with its
// list and subscriber. The caller holds the subscriber's lock. An unknown
// list is ErrListNotFound (through mapConstraint), once the transaction
// ends.
func insertSubscription(ctx context.Context, tx *sqlx.Tx, subscriberID, listID int64, f Frequency, source string) (Subscription, error) {
	var sub Subscription
	err := tx.GetContext(ctx, &sub, insertSubscriptionQuery, subscriberID, listID, f, source)
	if err != nil {
		return Subscription{}, fmt.Errorf("insert subscription: %w", err)
	}
	return sub, nil
}
