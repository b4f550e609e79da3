package magiclink

import (
	"context"
	"net/url"

	"github.com/jmoiron/sqlx"

	"email-alert/internal/lib/pgdb"
	"email-alert/linking/secret"
	"email-alert/linking/session"
	"email-alert/mail"
	"email-alert/subscribers"
)

// ConfirmPath is where the frontend redeems a confirmation token.
const ConfirmPath = "/email/subscriptions/authenticate"

// RequestConfirmation emails address a link that subscribes it to the list
// with slug topicID at frequency. It creates no subscriber or subscription:
// those wait for the click. An unknown list is subscribers.ErrListNotFound.
// The email is in lang, and so is the page its link opens.
func (s *Service) RequestConfirmation(ctx context.Context, address, topicID string, f subscribers.Frequency, lang string) error {
	list, err := s.subs.ListBySlug(ctx, topicID)
	if err != nil {
		return err
	}
	return pgdb.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		token, err := issue(ctx, tx, grant{
			Purpose: PurposeConfirmSubscription, Address: address, TopicID: list.Slug, Frequency: string(f), TTL: ConfirmTTL,
		})
		if err != nil {
			return err
		}
		return s.writeEmail(ctx, tx, mail.KindConfirmSubscription, lang, address, map[string]any{
			"Title":     list.Title,
			"Frequency": f,
			"Expiry":    ConfirmTTL,
			"Link": s.link(ConfirmPath, inLanguage(url.Values{
				"token": {token}, "topic_id": {list.Slug}, "frequency": {string(f)},
			}, lang)),
		})
	})
}

// Confirmed is the outcome of a confirmation link.
type Confirmed struct {
	// Subscription is the subscription to the link's list: the one this
	// click made or found, or, for a link used before, the newest there
	// is (Active or not).
	Subscription subscribers.Subscription
	// Created is false when the person was already subscribed like this.
	Created bool
	// Session is a new magic-link session, or "" when the subscriber is
	// linked to an account and must sign in with One Login instead, or
	// when the link had been used.
	Session string
	// Used is true when the link had been followed before: this click
	// changed nothing and opened no session.
	Used bool
}

// RedeemConfirmation follows a confirmation link. topicID and frequency,
// from the link, must match the token's own. The first click subscribes
// the token's address to its list at its frequency and signs it in (a
// subscriber linked to an account signs in with One Login instead), in one
// transaction that also spends the token. A later click, until the token
// expires, changes nothing and opens no session: it reports the
// subscription as it is now (Used), so a person who has since unsubscribed
// is not subscribed again by an old email, and an old email is not a
// 7-day login. The first click makes lang (the language of the page it
// opened; "" keeps it) the subscriber's locale.
func (s *Service) RedeemConfirmation(ctx context.Context, token, topicID, frequency, lang string) (Confirmed, error) {
	if !secret.WellFormed(token) { // before a transaction is begun for it
		return Confirmed{}, ErrTokenInvalid
	}
	var result Confirmed
	err := s.subs.InTx(ctx, func(tx *sqlx.Tx) error {
		result = Confirmed{}
		// Locked: of two clicks at once, the second waits here and then
		// finds the token used.
		t, err := redeem(ctx, tx, PurposeConfirmSubscription, token)
		if err != nil {
			return err
		}
		if t.TopicID != topicID || t.Frequency != frequency {
			return ErrTokenInvalid
		}
		list, err := s.subs.ListBySlug(ctx, t.TopicID)
		if err != nil {
			return err
		}
		if t.Used {
			if t.SubscriberID == nil { // spent tokens keep their subscriber
				return ErrTokenInvalid
			}
			result.Used = true
			result.Subscription, err = subscribers.LatestSubscriptionTo(ctx, tx, *t.SubscriberID, list.ID)
			return err
		}
		sub, created, err := s.subs.SubscribeIn(ctx, tx, subscribers.SubscribeRequest{
			Address: t.Address, ListID: list.ID, Frequency: subscribers.Frequency(t.Frequency),
			Locale: lang, Cause: subscribers.EmailLinkCause(t.ID),
		})
		if err != nil {
			return err
		}
		result.Subscription, result.Created = sub, created
		if err := spendConfirmation(ctx, tx, t.ID, sub.Subscriber.ID); err != nil {
			return err
		}
		if sub.Subscriber.Linked() {
			return nil
		}
		result.Session, err = session.CreateMagicLink(ctx, tx, sub.Subscriber.ID)
		return err
	})
	return result, err
}
