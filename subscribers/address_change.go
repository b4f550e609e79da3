package subscribers

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// ChangeAddress gives the subscriber id the address newAddress (already
// normalised). When another subscriber has that address the change fails
// with ErrAddressTaken, unless merge is set: then the other subscriber's
// active subscriptions move to this one and the other's address is nulled
// (see mergeInto). Giving a subscriber its own address, in any case,
// changes none of its subscriptions.
func (s *Store) ChangeAddress(ctx context.Context, id int64, newAddress string, merge bool) (Subscriber, error) {
	var result Subscriber
	err := s.InTx(ctx, func(tx *sqlx.Tx) (err error) {
		result, err = ChangeAddressIn(ctx, tx, id, newAddress, merge)
		return err
	})
	return result, err
}

// ChangeAddressIn is ChangeAddress inside the caller's transaction.
func ChangeAddressIn(ctx context.Context, tx *sqlx.Tx, id int64, newAddress string, merge bool) (Subscriber, error) {
	var result Subscriber
	err := func() error {
		// Lock both rows in id order, in one statement, so that two merges
		// of the same pair in opposite directions cannot deadlock.
		var locked []Subscriber
		err := tx.SelectContext(ctx, &locked, `
			SELECT `+subscriberColumns+` FROM subscribers
			WHERE id = $1 OR lower(address) = lower($2)
			ORDER BY id FOR UPDATE`, id, newAddress)
		if err != nil {
			return fmt.Errorf("lock subscribers: %w", err)
		}
		var self, other *Subscriber
		for i := range locked {
			if locked[i].ID == id {
				self = &locked[i]
			} else {
				other = &locked[i]
			}
		}
		if self == nil {
			return fmt.Errorf("subscriber %d: %w", id, ErrNotFound)
		}
		if other != nil {
			if !merge {
				return ErrAddressTaken
			}
			if err := mergeInto(ctx, tx, other.ID, self.ID); err != nil {
				return err
			}
		}
		if self.Address != nil && *self.Address == newAddress {
			result = *self
			return nil
		}
		return tx.GetContext(ctx, &result, `
			UPDATE subscribers SET address = $2, updated_at = now()
			WHERE id = $1 RETURNING `+subscriberColumns, id, newAddress)
	}()
	return result, err
}

// mergeInto moves every active subscription of subscriber from to
// subscriber into: each is ended on from (subscriber_merged) and created on
// into (source subscriber_merged). Where both are subscribed to a list the
// more frequent subscription wins: immediately > daily > weekly. Finally
// from's address is nulled, freeing it for into. The caller holds both locks.
func mergeInto(ctx context.Context, tx *sqlx.Tx, from, into int64) error {
	var moving []Subscription
	err := tx.SelectContext(ctx, &moving, subscriptionSelect+`
		WHERE s.subscriber_id = $1 AND s.ended_at IS NULL ORDER BY s.created_at, s.id`, from)
	if err != nil {
		return fmt.Errorf("subscriptions to merge: %w", err)
	}
	for _, sub := range moving {
		if _, err := endSubscription(ctx, tx, sub.ID, EndedSubscriberMerged); err != nil {
			return err
		}
		kept, err := activeSubscription(ctx, tx, into, sub.List.ID)
		switch {
		case err == nil && !sub.Frequency.moreFrequentThan(kept.Frequency):
			continue // into's own subscription is at least as frequent
		case err == nil:
			if _, err := endSubscription(ctx, tx, kept.ID, EndedSubscriberMerged); err != nil {
				return err
			}
		case !isNotFound(err):
			return err
		}
		if _, err := insertSubscription(ctx, tx, into, sub.List.ID, sub.Frequency, SourceSubscriberMerged); err != nil {
			return err
		}
	}
	_, err = tx.ExecContext(ctx, `UPDATE subscribers SET address = NULL, updated_at = now() WHERE id = $1`, from)
	if err != nil {
		return fmt.Errorf("release address of %d: %w", from, err)
	}
	return nil
}
