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

// UnsubscribeAll ends every active subscription of the subscriber id with
// reason, and returns how many it ended. An unknown subscriber is ErrNotFound.
func (s *Store) UnsubscribeAll(ctx context.Context, id int64, reason string) (int64, error) {
	var ended int64
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := lockSubscriber(ctx, tx, id); err != nil {
			return err
		}
		var err error
		ended, err = EndAllIn(ctx, tx, id, reason)
		return err
	})
	return ended, err
}

// EndAllIn ends every active subscription of subscriberID with reason,
// inside the caller's transaction, and returns how many it ended.
func EndAllIn(ctx context.Context, tx *sqlx.Tx, subscriberID int64, reason string) (int64, error) {
	res, err := tx.ExecContext(ctx, `
		UPDATE subscriptions SET ended_at = now(), ended_reason = $2, updated_at = now()
		WHERE subscriber_id = $1 AND ended_at IS NULL`, subscriberID, reason)
	if err != nil {
		return 0, fmt.Errorf("end subscriptions of %d: %w", subscriberID, err)
	}
	return res.RowsAffected()
}
