package subscribers

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
)

// Unsubscribe ends the active subscription id. An unknown or already ended
// subscription is ErrNotFound.
func (s *Store) Unsubscribe(ctx context.Context, id uuid.UUID) error {
	return s.InTx(ctx, func(tx *sqlx.Tx) error {
		ended, err := endSubscription(ctx, tx, id, EndedUnsubscribed)
		if err != nil {
			return err
		}
		if !ended {
			return fmt.Errorf("unsubscribe %s: %w", id, ErrNotFound)
		}
		return nil
	})
}

// UnsubscribeFromList ends the subscriber's active subscription to the
// list, whichever row that is now (a frequency change replaces it), with
// reason unsubscribed, recorded in the audit trail with cause, and returns
// it. Nothing active is ErrNotFound, and changes nothing: a second
// request records no second ending.
func (s *Store) UnsubscribeFromList(ctx context.Context, subscriberID, listID int64, cause Cause) (Subscription, error) {
	if cause.Kind == "" || cause.ID == "" {
		return Subscription{}, errNoCause
	}
	var sub Subscription
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := lockSubscriber(ctx, tx, subscriberID); err != nil {
			return err
		}
		var err error
		if sub, err = activeSubscription(ctx, tx, subscriberID, listID); err != nil {
			return err
		}
		if _, err = endSubscription(ctx, tx, sub.ID, EndedUnsubscribed); err != nil {
			return err
		}
		return recordAudit(ctx, tx, cause, change{subscriberID, AuditSubscriptionsEnded, map[string]any{
			"reason": EndedUnsubscribed, "count": 1, "subscriber_list_id": listID,
		}})
	})
	return sub, err
}

// UnsubscribeAll ends every active subscription of the subscriber id with
// reason, recorded with cause, and returns how many it ended. An unknown
// subscriber is ErrNotFound.
func (s *Store) UnsubscribeAll(ctx context.Context, id int64, reason string, cause Cause) (int64, error) {
	var ended int64
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := lockSubscriber(ctx, tx, id); err != nil {
			return err
		}
		var err error
		ended, err = EndAllIn(ctx, tx, id, reason, cause)
		return err
	})
	return ended, err
}

// EndAllIn ends every active subscription of subscriberID with reason,
// inside the caller's transaction, and returns how many it ended. Ending
// any is recorded in the audit trail with cause; ending none is no change.
func EndAllIn(ctx context.Context, tx *sqlx.Tx, subscriberID int64, reason string, cause Cause) (int64, error) {
	if cause.Kind == "" || cause.ID == "" {
		return 0, errNoCause
	}
	// One statement: the record says how many ended, and exists only if
	// any did.
	var n int64
	err := tx.GetContext(ctx, &n, `
		WITH ended AS (
			UPDATE subscriptions SET ended_at = now(), ended_reason = $2, updated_at = now()
			WHERE subscriber_id = $1 AND ended_at IS NULL
			RETURNING 1
		), audit AS (
			INSERT INTO subscriber_audit (subscriber_id, action, cause_kind, cause_id, details)
			SELECT $1, $3, $4, $5, jsonb_build_object('reason', $2::text, 'count', count(*))
			FROM ended HAVING count(*) > 0
		)
		SELECT count(*) FROM ended`, subscriberID, reason, AuditSubscriptionsEnded, cause.Kind, cause.ID)
	if err != nil {
		return 0, fmt.Errorf("end subscriptions of %d: %w", subscriberID, err)
	}
	return n, nil
}
