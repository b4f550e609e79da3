package linking

import (
	"context"
	"fmt"
	"net/url"

	"github.com/jmoiron/sqlx"

	"email-alert/mail"
	"email-alert/subscribers"
)

// ConfirmPath is where the frontend redeems a confirmation token.
const ConfirmPath = "/email/subscriptions/authenticate"

// RequestConfirmation emails address a link that subscribes it to the list
// with slug topicID at frequency. It creates no subscriber or subscription:
// those wait for the click. An unknown list is subscribers.ErrListNotFound.
func (s *Service) RequestConfirmation(ctx context.Context, address, topicID string, f subscribers.Frequency) error {
	list, err := s.subs.ListBySlug(ctx, topicID)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		token, err := insertToken(ctx, tx, tokenRow{
			Purpose: PurposeConfirmSubscription, Address: address, TopicID: list.Slug, Frequency: string(f), TTL: ConfirmTTL,
		})
		if err != nil {
			return err
		}
		return s.writeEmail(ctx, tx, mail.KindConfirmSubscription, address, map[string]any{
			"Title":             list.Title,
			"FrequencySentence": f.Sentence(),
			"Expiry":            ConfirmTTL,
			"Link": s.link(ConfirmPath, url.Values{
				"token": {token}, "topic_id": {list.Slug}, "frequency": {string(f)},
			}),
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
// 7-day login.
func (s *Service) RedeemConfirmation(ctx context.Context, token, topicID, frequency string) (Confirmed, error) {
	if !wellFormed(token) {
		return Confirmed{}, ErrTokenInvalid
	}
	var result Confirmed
	err := s.subs.InTx(ctx, func(tx *sqlx.Tx) error {
		result = Confirmed{}
		var t struct {
			ID           int64  `db:"id"`
			Address      string `db:"address"`
			TopicID      string `db:"topic_id"`
			Frequency    string `db:"frequency"`
			SubscriberID *int64 `db:"subscriber_id"`
			Used         bool   `db:"used"`
		}
		// Locked: of two clicks at once, the second waits here and then
		// finds the token used.
		err := tx.GetContext(ctx, &t, `
			SELECT id, address, topic_id, frequency, subscriber_id, used_at IS NOT NULL AS used FROM auth_tokens
			WHERE token_hash = $1 AND purpose = 'confirm_subscription' AND expires_at > now()
			FOR UPDATE`, hashToken(token))
		if err != nil {
			return fmt.Errorf("redeem confirmation token: %w", orInvalid(err))
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
			Cause: subscribers.EmailLinkCause(t.ID),
		})
		if err != nil {
			return err
		}
		result.Subscription, result.Created = sub, created
		// The subscriber is kept with the spent token, so a later click
		// finds the subscription even after an address change.
		if _, err := tx.ExecContext(ctx, `UPDATE auth_tokens SET used_at = now(), subscriber_id = $2 WHERE id = $1`,
			t.ID, sub.Subscriber.ID); err != nil {
			return fmt.Errorf("spend confirmation token: %w", err)
		}
		if sub.Subscriber.Linked() {
			return nil
		}
		result.Session, err = createSession(ctx, tx, sub.Subscriber.ID, MethodMagicLink)
		return err
	})
	return result, err
}
