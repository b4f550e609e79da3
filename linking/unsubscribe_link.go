package linking

import (
	"context"
	"fmt"
	"net/url"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
)

// UnsubscribeLinks makes the unsubscribe link of an email sent about a
// subscription (alerts and digests, rendered when they are sent). It is
// the one place those emails get their link, so that how the link's token
// is bound changes here alone.
type UnsubscribeLinks struct {
	db *sqlx.DB
	s  *Service
}

// NewUnsubscribeLinks returns links on publicURL, with tokens stored in db.
func NewUnsubscribeLinks(db *sqlx.DB, publicURL *url.URL) *UnsubscribeLinks {
	return &UnsubscribeLinks{db: db, s: &Service{publicURL: publicURL}}
}

// Link issues an unsubscribe token for subscription id of subscriberID at
// address and returns the link that uses it.
func (u *UnsubscribeLinks) Link(ctx context.Context, subscriberID int64, id uuid.UUID, address string) (string, error) {
	tx, err := u.db.BeginTxx(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("unsubscribe link: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	token, err := insertToken(ctx, tx, tokenRow{
		Purpose: PurposeUnsubscribe, SubscriberID: &subscriberID, SubscriptionID: &id,
		Address: address, TTL: UnsubscribeTTL,
	})
	if err != nil {
		return "", err
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("unsubscribe link: %w", err)
	}
	return u.s.link("/email/unsubscribe/"+id.String(), url.Values{"token": {token}}), nil
}

// ManageLink is the link to manage every subscription.
func (u *UnsubscribeLinks) ManageLink() string { return u.s.link("/email/manage/authenticate", nil) }
