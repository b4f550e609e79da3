package subscribers

import (
	"context"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
)

// ChangeFrequency changes the frequency of the active subscription id by
// ending it and creating its replacement, which it returns. The same
// frequency changes nothing and returns the subscription as it is. An
// unknown or ended subscription is ErrNotFound. No email is sent.
func (s *Store) ChangeFrequency(ctx context.Context, id uuid.UUID, f Frequency) (Subscription, error) {
	var result Subscription
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		current, err := subscriptionByID(ctx, tx, id)
		if err != nil {
			return err
		}
		if _, err := lockSubscriber(ctx, tx, current.Subscriber.ID); err != nil {
			return err
		}
		// Re-read under the lock: a concurrent change may have ended it.
		if current, err = subscriptionByID(ctx, tx, id); err != nil {
			return err
		}
		if !current.Active() {
			return ErrNotFound
		}
		if current.Frequency == f {
			result = current
			return nil
		}
		if _, err := endSubscription(ctx, tx, id, EndedFrequencyChanged); err != nil {
			return err
		}
		result, err = insertSubscription(ctx, tx, current.Subscriber.ID, current.List.ID, f, SourceFrequencyChanged)
		return err
	})
	return result, err
}
