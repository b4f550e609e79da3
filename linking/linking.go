// Package linking signs people in with GOV.UK One Login and links their
// accounts to subscribers, by DESIGN.md's rules (Link), and serves the JSON
// API of both sign-in routes. It owns the One Login sign-ins in flight
// (oidc_sign_ins) and the logout tokens seen (oidc_logout_jtis). Its parts
// live beside it:
//
//   - linking/magiclink: the links in emails (sign in, confirm a
//     subscription, unsubscribe, confirm a new address) and their tokens;
//   - linking/session: sessions, of both kinds, and deleted accounts;
//   - linking/onelogin: the OpenID Connect relying party;
//   - linking/secret: the random tokens all of them hand out.
package linking

import (
	"context"
	"net/url"
	"strings"

	"github.com/jmoiron/sqlx"

	"email-alert/internal/lib/locale"
	"email-alert/linking/magiclink"
	"email-alert/linking/onelogin"
	"email-alert/linking/session"
	"email-alert/mail"
	"email-alert/subscribers"
)

// Service signs people in with One Login and links accounts to
// subscribers. MagicLinks and Sessions are the parts it is built with, for
// the pages that use them too.
type Service struct {
	MagicLinks *magiclink.Service
	Sessions   *session.Store

	db        *sqlx.DB
	subs      *subscribers.Store
	templates *mail.Templates
	publicURL *url.URL
	rp        *onelogin.RelyingParty // nil: no One Login
}

// NewService returns a Service; links in emails start with publicURL. rp
// may be nil, leaving One Login sign-in out.
func NewService(db *sqlx.DB, subs *subscribers.Store, templates *mail.Templates, publicURL *url.URL, rp *onelogin.RelyingParty) *Service {
	return &Service{
		MagicLinks: magiclink.NewService(db, subs, templates, publicURL),
		Sessions:   session.NewStore(db, subs),
		db:         db, subs: subs, templates: templates, publicURL: publicURL, rp: rp,
	}
}

// writeEmail renders the email of kind in lang and writes it to the outbox
// in tx.
func (s *Service) writeEmail(ctx context.Context, tx *sqlx.Tx, kind, lang, to string, data any) error {
	e, err := s.templates.Render(kind, lang, to, data)
	if err != nil {
		return err
	}
	_, err = mail.Write(ctx, tx, e)
	return err
}

// signInURL is the page that starts a One Login sign-in, for an email in
// lang: a Welsh one opens it in Welsh.
func (s *Service) signInURL(lang string) string {
	u := strings.TrimSuffix(s.publicURL.String(), "/") + "/email/manage/authenticate/account"
	if lang == locale.Welsh {
		u += "?lang=" + lang
	}
	return u
}
