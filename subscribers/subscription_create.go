package subscribers

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// SubscribeRequest is a request to subscribe an address to a list.
type SubscribeRequest struct {
	Address         string // already normalised
	ListID          int64
	Frequency       Frequency
	SkipConfirmMail bool
	// Locale, when not "", becomes the language of the subscriber's emails
	// (en or cy), the "You've subscribed" email's included.
	Locale string
	// Cause is recorded in the audit trail if the subscriber is created.
	Cause Cause
}

// Subscribe makes sure req.Address is subscribed to the list at the
// frequency, finding or creating the subscriber. An identical active
// subscription is returned as it is (created false); one at another
// frequency is ended and replaced. Every new subscription runs the
// OnSubscribed hook unless the request skips the email. An unknown list is
// ErrListNotFound, and then nothing is created.
func (s *Store) Subscribe(ctx context.Context, req SubscribeRequest) (sub Subscription, created bool, err error) {
	err = s.InTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		sub, created, err = s.SubscribeIn(ctx, tx, req)
		return err
	})
	return sub, created, err
}

// SubscribeIn is Subscribe inside the caller's transaction (run by InTx),
// for a change that must commit together with the subscription.
func (s *Store) SubscribeIn(ctx context.Context, tx *sqlx.Tx, req SubscribeRequest) (Subscription, bool, error) {
	subscriber, err := FindOrCreateSubscriber(ctx, tx, req.Address, req.Cause)
	if err != nil {
		return Subscription{}, false, err
	}
	if req.Locale != "" && req.Locale != subscriber.Locale {
		if err := SetLocaleIn(ctx, tx, subscriber.ID, req.Locale); err != nil {
			return Subscription{}, false, err
		}
	}
	source := SourceUserSignedUp
	existing, err := activeSubscription(ctx, tx, subscriber.ID, req.ListID)
	switch {
	case err == nil && existing.Frequency == req.Frequency:
		return existing, false, nil
	case err == nil:
		if _, err := endSubscription(ctx, tx, existing.ID, EndedFrequencyChanged); err != nil {
			return Subscription{}, false, err
		}
		source = SourceFrequencyChanged
	case !isNotFound(err):
		return Subscription{}, false, err
	}
	sub, err := insertSubscription(ctx, tx, subscriber.ID, req.ListID, req.Frequency, source)
	if err != nil {
		return Subscription{}, false, err
	}
	if s.onSubscribed != nil && !req.SkipConfirmMail {
		if err := s.onSubscribed(ctx, tx, sub); err != nil {
			return Subscription{}, false, fmt.Errorf("on subscribed: %w", err)
		}
	}
	return sub, true, nil
}
