package linking

import (
	"context"
	"errors"

	"github.com/jmoiron/sqlx"

	"email-alert/linking/magiclink"
	"email-alert/linking/onelogin"
	"email-alert/linking/session"
	"email-alert/mail"
	"email-alert/subscribers"
)

// ErrEmailUnverified is an account without a verified, valid email: it
// cannot be linked, since linking trusts the email.
var ErrEmailUnverified = errors.New("account email is missing or not verified")

// accountAddress returns the account's email as an address, or
// ErrEmailUnverified.
func accountAddress(a onelogin.Account) (string, error) {
	if !a.EmailVerified {
		return "", ErrEmailUnverified
	}
	address, ok := subscribers.NormalizeAddress(a.Email)
	if !ok {
		return "", ErrEmailUnverified
	}
	return address, nil
}

// Link links the account to a subscriber, in one transaction with the rows
// locked, by DESIGN.md's rules:
//  1. a subscriber already linked to the account's sub is the one; if its
//     address is not the account's email, the email is applied as an
//     address change with merge (the account is the source of truth);
//  2. else the subscriber with the account's email (created if there is
//     none) is linked, replacing any link it had to another sub: the
//     account that now owns the verified address wins;
//  3. the first link of a subscriber with active subscriptions writes one
//     email listing them.
//
// Linking ends the subscriber's magic-link sessions and sign-in tokens.
// Every change it makes is recorded in the audit trail with cause.
func (s *Service) Link(ctx context.Context, a onelogin.Account, cause subscribers.Cause) (subscribers.Subscriber, error) {
	var result subscribers.Subscriber
	err := s.subs.InTx(ctx, func(tx *sqlx.Tx) (err error) {
		result, err = s.linkIn(ctx, tx, a, cause, "")
		return err
	})
	return result, err
}

// linkIn is Link inside the caller's transaction. lang, unless "", becomes
// the linked subscriber's locale (the language of the page signed in on),
// before the "now linked" email is written in it.
func (s *Service) linkIn(ctx context.Context, tx *sqlx.Tx, a onelogin.Account, cause subscribers.Cause, lang string) (subscribers.Subscriber, error) {
	address, err := accountAddress(a)
	if err != nil {
		return subscribers.Subscriber{}, err
	}
	// Rule 1 is the email-change rule of account events too: one path, one
	// lock order. Addresses are compared case-insensitively everywhere: a
	// difference of case alone is the same address (EmailAtSignIn).
	linked, err := subscribers.ChangeAccountAddressIn(ctx, tx, a.Sub, address, subscribers.EmailAtSignIn, cause)
	if !errors.Is(err, subscribers.ErrNotFound) {
		if err == nil {
			linked, err = withLocale(ctx, tx, linked, lang)
		}
		return linked, err
	}

	owner, err := subscribers.FindOrCreateSubscriber(ctx, tx, address, cause)
	if err != nil {
		return subscribers.Subscriber{}, err
	}
	result, err := subscribers.LinkAccountIn(ctx, tx, owner, a.Sub, cause)
	if err != nil {
		return subscribers.Subscriber{}, err
	}
	if result, err = withLocale(ctx, tx, result, lang); err != nil {
		return subscribers.Subscriber{}, err
	}
	if err := magiclink.EndSignIns(ctx, tx, owner.ID); err != nil {
		return subscribers.Subscriber{}, err
	}
	if err := session.EndMagicLinkSessions(ctx, tx, owner.ID); err != nil {
		return subscribers.Subscriber{}, err
	}
	if owner.GovukAccountID == nil { // the first link
		return result, s.linkedEmail(ctx, tx, result)
	}
	return result, nil
}

// linkedEmail writes the "now linked" email listing the subscriber's
// active subscriptions; a subscriber with none gets no email.
func (s *Service) linkedEmail(ctx context.Context, tx *sqlx.Tx, subscriber subscribers.Subscriber) error {
	_, subs, err := subscribers.ActiveSubscriptionsIn(ctx, tx, subscriber.ID, "title")
	if err != nil || len(subs) == 0 {
		return err
	}
	type line struct {
		Title     string
		Frequency subscribers.Frequency
	}
	lines := make([]line, len(subs))
	for i, sub := range subs {
		lines[i] = line{Title: sub.List.Title, Frequency: sub.Frequency}
	}
	return s.writeEmail(ctx, tx, mail.KindAccountLinked, subscriber.Locale, *subscriber.Address, map[string]any{
		"SignInURL":     s.signInURL(subscriber.Locale),
		"Subscriptions": lines,
	})
}

// withLocale makes lang, unless "", the locale of subscriber (locked in tx).
func withLocale(ctx context.Context, tx *sqlx.Tx, subscriber subscribers.Subscriber, lang string) (subscribers.Subscriber, error) {
	if lang == "" || lang == subscriber.Locale {
		return subscriber, nil
	}
	if err := subscribers.SetLocaleIn(ctx, tx, subscriber.ID, lang); err != nil {
		return subscribers.Subscriber{}, err
	}
	subscriber.Locale = lang
	return subscriber, nil
}

// FindOrCreateForAccount returns the subscriber of the account, by link,
// else by its email, creating one if needed (recorded with cause), without
// linking it.
func (s *Service) FindOrCreateForAccount(ctx context.Context, a onelogin.Account, cause subscribers.Cause) (subscribers.Subscriber, error) {
	address, err := accountAddress(a)
	if err != nil {
		return subscribers.Subscriber{}, err
	}
	if linked, err := s.subs.SubscriberByAccount(ctx, a.Sub); err == nil {
		return linked, nil
	} else if !errors.Is(err, subscribers.ErrNotFound) {
		return subscribers.Subscriber{}, err
	}
	var result subscribers.Subscriber
	err = s.subs.InTx(ctx, func(tx *sqlx.Tx) (err error) {
		result, err = subscribers.FindOrCreateSubscriber(ctx, tx, address, cause)
		return err
	})
	return result, err
}
