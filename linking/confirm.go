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
			"Link": s.link(ConfirmPath, url.Values{
				"token": {token}, "topic_id": {list.Slug}, "frequency": {string(f)},
			}),
		})
	})
}

// Confirmed is the outcome of a confirmation link.
type Confirmed struct {
	Subscription subscribers.Subscription
	// Created is false when the person was already subscribed like this.
	Created bool
	// Session is a new magic-link session, or "" when the subscriber is
	// linked to an account and must sign in with One Login instead.
	Session string
}

// RedeemConfirmation subscribes the token's address to its list at its
// frequency and signs it in. topicID and frequency, from the link, must
// match the token's own. The token works until it expires; clicking it
// again finds the same subscription.
func (s *Service) RedeemConfirmation(ctx context.Context, token, topicID, frequency string) (Confirmed, error) {
	if !wellFormed(token) {
		return Confirmed{}, ErrTokenInvalid
	}
	var t struct {
		ID        int64  `db:"id"`
		Address   string `db:"address"`
		TopicID   string `db:"topic_id"`
		Frequency string `db:"frequency"`
	}
	err := s.db.GetContext(ctx, &t, `
		SELECT id, address, topic_id, frequency FROM auth_tokens
		WHERE token_hash = $1 AND purpose = 'confirm_subscription' AND expires_at > now()`, hashToken(token))
	if err != nil {
		return Confirmed{}, fmt.Errorf("redeem confirmation token: %w", orInvalid(err))
	}
	if t.TopicID != topicID || t.Frequency != frequency {
		return Confirmed{}, ErrTokenInvalid
	}
	list, err := s.subs.ListBySlug(ctx, t.TopicID)
	if err != nil {
		return Confirmed{}, err
	}
	sub, created, err := s.subs.Subscribe(ctx, subscribers.SubscribeRequest{
		Address: t.Address, ListID: list.ID, Frequency: subscribers.Frequency(t.Frequency),
		Cause: subscribers.EmailLinkCause(t.ID),
	})
	if err != nil {
		return Confirmed{}, err
	}
	result := Confirmed{Subscription: sub, Created: created}
	if sub.Subscriber.Linked() {
		return result, nil
	}
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		result.Session, err = createSession(ctx, tx, sub.Subscriber.ID, MethodMagicLink)
		return err
	})
	return result, err
}
