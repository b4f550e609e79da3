package magiclink

import (
	"context"
	"fmt"
	"net/url"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"email-alert/internal/lib/pgdb"
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

// Link issues an unsubscribe token for the subscription of subscriberID at
// address to list listID (id: the one active now, named in the links'
// paths) and returns the two links that use it: the page's, for the body,
// and the one-click URL (RFC 8058), for the List-Unsubscribe header. The
// token is bound to the subscriber and the list, as the "You've
// subscribed" email's, so it ends whatever subscription to the list is
// active when it is followed.
func (u *UnsubscribeLinks) Link(ctx context.Context, subscriberID, listID int64, id uuid.UUID, address string) (page, oneClick string, err error) {
	var token string
	err = pgdb.InTx(ctx, u.db, func(tx *sqlx.Tx) (err error) {
		token, err = issue(ctx, tx, grant{
			Purpose: PurposeUnsubscribe, SubscriberID: &subscriberID, ListID: &listID,
			Address: address, TTL: UnsubscribeTTL,
		})
		return err
	})
	if err != nil {
		return "", "", fmt.Errorf("unsubscribe link: %w", err)
	}
	page, oneClick = u.s.unsubscribeLinks(id, token)
	return page, oneClick, nil
}

// OneClickPath is where a mail client posts a one-click unsubscribe (RFC
// 8058), followed by the subscription id; the token goes in the query.
const OneClickPath = "/email/unsubscribe/one-click/"

// unsubscribeLinks returns the unsubscribe page's link and the one-click
// URL of token, for the email about subscription id.
func (s *Service) unsubscribeLinks(id uuid.UUID, token string) (page, oneClick string) {
	q := url.Values{"token": {token}}
	return s.link("/email/unsubscribe/"+id.String(), q), s.link(OneClickPath+id.String(), q)
}

// ManageLink is the link to manage every subscription.
func (u *UnsubscribeLinks) ManageLink() string { return u.s.link("/email/manage/authenticate", nil) }
