package magiclink

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"email-alert/internal/lib/pgdb"
	"email-alert/linking/secret"
	"email-alert/mail"
	"email-alert/subscribers"
)

// SubscribedEmail returns the subscribers.OnSubscribed hook that writes the
// "You've subscribed to: <title>" email, with a link that unsubscribes
// from that list without signing in and the same token's one-click URL
// (List-Unsubscribe), in the transaction that creates the subscription.
// The link's token is bound to the subscriber and the list, not to this
// subscription: after a frequency change replaces it, the link ends the one
// that is active then.
func SubscribedEmail(templates *mail.Templates, publicURL *url.URL) subscribers.OnSubscribed {
	s := &Service{templates: templates, publicURL: publicURL}
	return func(ctx context.Context, tx *sqlx.Tx, sub subscribers.Subscription) error {
		if sub.Subscriber.Address == nil {
			return nil
		}
		// The token and the email that carries it: one statement.
		token, with, args := issueWith(grant{
			Purpose: PurposeUnsubscribe, SubscriberID: &sub.Subscriber.ID, ListID: &sub.List.ID,
			Address: *sub.Subscriber.Address, TTL: UnsubscribeTTL,
		})
		var pageURL string
		if sub.List.URL != nil {
			pageURL = "https://www.gov.uk" + *sub.List.URL
		}
		lang := sub.Subscriber.Locale
		_, oneClick := s.unsubscribeLinks(sub.ID, token)
		e, err := s.templates.Render(mail.KindSubscribed, lang, *sub.Subscriber.Address, map[string]any{
			"Title":          sub.List.Title,
			"Frequency":      sub.Frequency,
			"URL":            pageURL,
			"ManageURL":      s.link("/email/manage/authenticate", inLanguage(nil, lang)),
			"UnsubscribeURL": s.link("/email/unsubscribe/"+sub.ID.String(), inLanguage(url.Values{"token": {token}}, lang)),
		})
		if err != nil {
			return err
		}
		// The token is in the clear only now: the outbox keeps the
		// one-click URL beside the body, which holds the same token.
		e.ListUnsubscribeURL = oneClick
		_, err = mail.WriteWith(ctx, tx, with, args, e)
		return err
	}
}

// unsubscribeTarget returns the token, an unexpired unsubscribe token,
// with the subscriber and list it is bound to (the subscriber the email
// went to, which a merge may since have replaced: see MergedInto), else
// ErrTokenInvalid. The
// subscription id in the link's path names the row the email was written
// for; it is not needed, as that row may since have been replaced.
func (s *Service) unsubscribeTarget(ctx context.Context, token string) (redeemed, error) {
	t, err := redeem(ctx, s.db, PurposeUnsubscribe, token)
	if err != nil {
		return redeemed{}, err
	}
	if t.SubscriberID == nil || t.ListID == nil { // the schema forbids it
		return redeemed{}, fmt.Errorf("unsubscribe token %d: no subscriber or list", t.ID)
	}
	return t, nil
}

// CheckUnsubscribeToken returns the newest subscription to the list of an
// emailed unsubscribe token, for its confirmation page: the one active now
// when there is one (Active), else the last that ended. A token that is
// not an unexpired unsubscribe token is ErrTokenInvalid. It changes
// nothing.
func (s *Service) CheckUnsubscribeToken(ctx context.Context, token string) (subscribers.Subscription, error) {
	t, err := s.unsubscribeTarget(ctx, token)
	if err != nil {
		return subscribers.Subscription{}, err
	}
	subscriberID, err := subscribers.MergedInto(ctx, s.db, *t.SubscriberID)
	if err != nil {
		return subscribers.Subscription{}, err
	}
	return subscribers.LatestSubscriptionTo(ctx, s.db, subscriberID, *t.ListID)
}

// UnsubscribeByToken ends, for the holder of an emailed unsubscribe token,
// the subscription to its list that is active now, and returns it with
// ended true. When nothing is active it ends nothing and returns the last
// subscription that ended, with ended false: the caller must not say that
// an unsubscription happened.
func (s *Service) UnsubscribeByToken(ctx context.Context, token string) (sub subscribers.Subscription, ended bool, err error) {
	t, err := s.unsubscribeTarget(ctx, token)
	if err != nil {
		return subscribers.Subscription{}, false, err
	}
	return s.unsubscribe(ctx, t, subscribers.EmailLinkCause(t.ID))
}

// OneClickUnsubscribe is UnsubscribeByToken for a one-click unsubscribe
// (RFC 8058): the List-Unsubscribe URL of an email about subscription id,
// posted by the person's mail client. The whole URL must be as it was
// sent: id must be a subscription of the token's subscriber to the
// token's list (the one the email was about, active or since replaced),
// else the token is ErrTokenInvalid and nothing changes. The ending is
// recorded with the one-click cause.
func (s *Service) OneClickUnsubscribe(ctx context.Context, id uuid.UUID, token string) (sub subscribers.Subscription, ended bool, err error) {
	t, err := s.unsubscribeTarget(ctx, token)
	if err != nil {
		return subscribers.Subscription{}, false, err
	}
	named, err := s.subs.Subscription(ctx, id)
	if errors.Is(err, subscribers.ErrNotFound) ||
		(err == nil && (named.Subscriber.ID != *t.SubscriberID || named.List.ID != *t.ListID)) {
		return subscribers.Subscription{}, false, ErrTokenInvalid
	}
	if err != nil {
		return subscribers.Subscription{}, false, err
	}
	return s.unsubscribe(ctx, t, subscribers.OneClickCause(t.ID))
}

// unsubscribe ends the active subscription to t's list, as
// UnsubscribeByToken says, recorded with cause.
func (s *Service) unsubscribe(ctx context.Context, t redeemed, cause subscribers.Cause) (sub subscribers.Subscription, ended bool, err error) {
	// The subscriber the email went to may since have been merged into
	// another, which now has its subscriptions and its address.
	subscriberID, err := subscribers.MergedInto(ctx, s.db, *t.SubscriberID)
	if err != nil {
		return subscribers.Subscription{}, false, err
	}
	sub, err = s.subs.UnsubscribeFromList(ctx, subscriberID, *t.ListID, cause)
	if errors.Is(err, subscribers.ErrNotFound) {
		sub, err = subscribers.LatestSubscriptionTo(ctx, s.db, subscriberID, *t.ListID)
		return sub, false, err
	}
	return sub, err == nil, err
}

// RequestAddressChange emails newAddress a link that, once followed, makes
// it the subscriber's address. Until then nothing changes. A linked
// subscriber changes its address in One Login instead: ErrLinked. An
// address held by a linked subscriber is managed through that account:
// subscribers.ErrAddressLinked, and nothing is sent to it. The email is in
// lang, the language of the page that asked.
func (s *Service) RequestAddressChange(ctx context.Context, subscriber subscribers.Subscriber, newAddress, lang string) error {
	if subscriber.Linked() {
		return ErrLinked
	}
	old := ""
	if subscriber.Address != nil {
		old = *subscriber.Address
	}
	return pgdb.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		if err := subscribers.CheckMergeIn(ctx, tx, subscriber.ID, newAddress); err != nil {
			return err
		}
		token, err := issue(ctx, tx, grant{
			Purpose: PurposeChangeAddress, SubscriberID: &subscriber.ID, Address: newAddress, TTL: ChangeAddressTTL,
		})
		if err != nil {
			return err
		}
		return s.writeEmail(ctx, tx, mail.KindConfirmAddress, lang, newAddress, map[string]any{
			"OldAddress": old,
			"Link":       s.link("/email/manage/address/confirm", inLanguage(url.Values{"token": {token}}, lang)),
			"Expiry":     ChangeAddressTTL,
		})
	})
}

// ConfirmAddressChange uses a change-address token once: the subscriber
// that asked gets the new address, merging with a subscriber that has it
// (the person has now shown they own both). A linked subscriber's token
// is ErrTokenInvalid; an address that a linked subscriber has taken since
// the link was sent is subscribers.ErrAddressLinked, and nothing changes.
func (s *Service) ConfirmAddressChange(ctx context.Context, token string) (subscribers.Subscriber, error) {
	if !secret.WellFormed(token) { // before a transaction is begun for it
		return subscribers.Subscriber{}, ErrTokenInvalid
	}
	var result subscribers.Subscriber
	err := s.subs.InTx(ctx, func(tx *sqlx.Tx) error {
		t, err := redeem(ctx, tx, PurposeChangeAddress, token)
		if err != nil {
			return err
		}
		var linked bool
		if err := tx.GetContext(ctx, &linked, `SELECT govuk_account_id IS NOT NULL FROM subscribers WHERE id = $1`, *t.SubscriberID); err != nil {
			return err
		}
		if linked {
			return ErrTokenInvalid
		}
		result, err = subscribers.ChangeAddressIn(ctx, tx, *t.SubscriberID, strings.TrimSpace(t.Address), subscribers.Merge,
			subscribers.EmailLinkCause(t.ID))
		return err
	})
	return result, err
}
