package magiclink

import (
	"context"
	"errors"
	"net/url"

	"github.com/jmoiron/sqlx"

	"email-alert/internal/lib/pgdb"
	"email-alert/linking/secret"
	"email-alert/linking/session"
	"email-alert/mail"
	"email-alert/subscribers"
)

// ManagePath is where the frontend redeems a sign-in token.
const ManagePath = "/email/manage/authenticate/process"

// RequestSignIn emails the subscriber with address a sign-in link to
// PUBLIC_URL + destination + ?token=…, for the JSON API. An unknown
// address is subscribers.ErrNotFound; a linked subscriber is ErrLinked and
// gets no email. The email is in lang, or when that is "" in the
// subscriber's locale.
func (s *Service) RequestSignIn(ctx context.Context, address, destination, lang string) (subscribers.Subscriber, error) {
	if err := CheckDestination(destination); err != nil {
		return subscribers.Subscriber{}, err
	}
	var subscriber subscribers.Subscriber
	err := pgdb.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		var err error
		if subscriber, err = subscribers.SubscriberByAddress(ctx, tx, address); err != nil {
			return err
		}
		if subscriber.Linked() {
			return ErrLinked
		}
		if lang == "" {
			lang = subscriber.Locale
		}
		return s.sendSignIn(ctx, tx, subscriber, destination, nil, lang)
	})
	return subscriber, err
}

// RequestManageLink is the frontend's "manage your subscriptions" request:
// a sign-in link for a known unlinked subscriber, the "use GOV.UK One
// Login" email for a linked one, and nothing at all for an unknown
// address. The caller answers the same way in every case. Either link
// returns the person to redirectPath once signed in, when it is a path on
// this site ("" or any other: the manage page). The email is in lang, the
// language of the page that asked.
func (s *Service) RequestManageLink(ctx context.Context, address, redirectPath, lang string) error {
	var back url.Values
	if redirectPath != "" && CheckDestination(redirectPath) == nil {
		back = url.Values{"redirect_path": {redirectPath}}
	}
	return pgdb.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		subscriber, err := subscribers.SubscriberByAddress(ctx, tx, address)
		switch {
		case errors.Is(err, subscribers.ErrNotFound):
			return nil
		case err != nil:
			return err
		case subscriber.Linked():
			return s.writeEmail(ctx, tx, mail.KindUseOneLogin, lang, *subscriber.Address, map[string]any{
				"SignInURL": s.link("/email/manage/authenticate/account", inLanguage(back, lang)),
			})
		}
		return s.sendSignIn(ctx, tx, subscriber, ManagePath, back, lang)
	})
}

// sendSignIn emails subscriber a sign-in link: PUBLIC_URL + destination
// with the token and params in its query, in lang.
func (s *Service) sendSignIn(ctx context.Context, tx *sqlx.Tx, subscriber subscribers.Subscriber, destination string, params url.Values, lang string) error {
	token, err := issue(ctx, tx, grant{
		Purpose: PurposeSignIn, SubscriberID: &subscriber.ID, Address: *subscriber.Address, TTL: SignInTTL,
	})
	if err != nil {
		return err
	}
	return s.writeEmail(ctx, tx, mail.KindSignIn, lang, *subscriber.Address, map[string]any{
		"Link":      s.link(destination, inLanguage(withToken(params, token), lang)),
		"ManageURL": s.link("/email/manage/authenticate", inLanguage(nil, lang)),
		"Expiry":    SignInTTL,
	})
}

// RedeemSignIn uses a sign-in token once and opens a magic-link session
// for its subscriber, returning the session token. A token that is unknown,
// used, expired, for another purpose, or whose subscriber has since been
// linked to an account, is ErrTokenInvalid. lang, the language of the page
// the link opened, becomes the subscriber's locale (unless "").
func (s *Service) RedeemSignIn(ctx context.Context, token, lang string) (string, subscribers.Subscriber, error) {
	if !secret.WellFormed(token) { // before a transaction is begun for it
		return "", subscribers.Subscriber{}, ErrTokenInvalid
	}
	var (
		sessionToken string
		subscriber   subscribers.Subscriber
	)
	err := pgdb.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		t, err := redeem(ctx, tx, PurposeSignIn, token)
		if err != nil {
			return err
		}
		if subscriber, err = s.subs.SubscriberByID(ctx, *t.SubscriberID); err != nil {
			return err
		}
		if subscriber.Linked() || subscriber.Address == nil {
			return ErrTokenInvalid
		}
		if lang != "" && lang != subscriber.Locale {
			if err := subscribers.SetLocaleIn(ctx, tx, subscriber.ID, lang); err != nil {
				return err
			}
			subscriber.Locale = lang
		}
		sessionToken, err = session.CreateMagicLink(ctx, tx, subscriber.ID)
		return err
	})
	return sessionToken, subscriber, err
}

// withToken returns params (which it leaves alone) with token added.
func withToken(params url.Values, token string) url.Values {
	q := url.Values{"token": {token}}
	for k, v := range params {
		q[k] = v
	}
	return q
}
