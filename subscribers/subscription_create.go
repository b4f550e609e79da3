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
	// The usual case, a known address, is one statement; a new address
	// (created with its audit record), a frequency change and a lost race
	// take more.
	got, err := subscribeExisting(ctx, tx, req.Address, req.ListID, req.Frequency)
	switch {
	case err == nil:
		sub := got.Subscription
		if err := setLocale(ctx, tx, req, &sub.Subscriber); err != nil {
			return Subscription{}, false, err
		}
		if got.Inserted {
			return s.subscribed(ctx, tx, req, sub)
		}
		return s.replace(ctx, tx, req, sub)
	case !isNotFound(err):
		return Subscription{}, false, err
	}
	subscriber, err := FindOrCreateSubscriber(ctx, tx, req.Address, req.Cause)
	if err != nil {
		return Subscription{}, false, err
	}
	if err := setLocale(ctx, tx, req, &subscriber); err != nil {
		return Subscription{}, false, err
	}
	existing, err := activeSubscription(ctx, tx, subscriber.ID, req.ListID)
	switch {
	case err == nil:
		return s.replace(ctx, tx, req, existing)
	case !isNotFound(err):
		return Subscription{}, false, err
	}
	sub, err := insertSubscription(ctx, tx, subscriber.ID, req.ListID, req.Frequency, SourceUserSignedUp)
	if err != nil {
		return Subscription{}, false, err
	}
	return s.subscribed(ctx, tx, req, sub)
}

// replace returns the subscriber's active subscription existing (locked)
// if it is at the requested frequency, and otherwise ends it and creates
// its replacement.
func (s *Store) replace(ctx context.Context, tx *sqlx.Tx, req SubscribeRequest, existing Subscription) (Subscription, bool, error) {
	if existing.Frequency == req.Frequency {
		return existing, false, nil
	}
	if _, err := endSubscription(ctx, tx, existing.ID, EndedFrequencyChanged); err != nil {
		return Subscription{}, false, err
	}
	sub, err := insertSubscription(ctx, tx, existing.Subscriber.ID, req.ListID, req.Frequency, SourceFrequencyChanged)
	if err != nil {
		return Subscription{}, false, err
	}
	return s.subscribed(ctx, tx, req, sub)
}

// subscribed runs the OnSubscribed hook for the new subscription sub.
func (s *Store) subscribed(ctx context.Context, tx *sqlx.Tx, req SubscribeRequest, sub Subscription) (Subscription, bool, error) {
	if s.onSubscribed != nil && !req.SkipConfirmMail {
		if err := s.onSubscribed(ctx, tx, sub); err != nil {
			return Subscription{}, false, fmt.Errorf("on subscribed: %w", err)
		}
	}
	return sub, true, nil
}

// setLocale makes req.Locale, when given, the language of sub's emails,
// the "You've subscribed" email of this request's included.
func setLocale(ctx context.Context, tx *sqlx.Tx, req SubscribeRequest, sub *Subscriber) error {
	if req.Locale == "" || req.Locale == sub.Locale {
		return nil
	}
	if err := SetLocaleIn(ctx, tx, sub.ID, req.Locale); err != nil {
		return err
	}
	sub.Locale = req.Locale
	return nil
}
