// Package magiclink runs what is done by following a link in an email:
// signing in, confirming a subscription, unsubscribing without signing in
// and confirming a new address. It owns the auth_tokens table. A token is
// random (package secret), stored only as its hash, bound to one purpose
// and to what it was issued for, and expiring; sign-in and change-address
// tokens are single use, a confirmation link works once and then only
// reports, an unsubscribe link works until it expires. Every token is
// redeemed by one function, redeem, by its Purpose's rule.
package magiclink

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"email-alert/internal/lib/locale"
	"email-alert/mail"
	"email-alert/subscribers"
)

// Token lifetimes (DESIGN.md, "Magic links").
const (
	SignInTTL        = 24 * time.Hour
	ConfirmTTL       = 7 * 24 * time.Hour
	UnsubscribeTTL   = 365 * 24 * time.Hour
	ChangeAddressTTL = 24 * time.Hour
)

// Errors the handlers map to responses.
var (
	// ErrTokenInvalid covers unknown, tampered, used, expired and
	// wrong-purpose tokens alike: the person sees one "link has expired"
	// page whichever it was.
	ErrTokenInvalid = errors.New("token is not valid")
	// ErrLinked is a magic-link request for a subscriber linked to an
	// account, who signs in only through One Login.
	ErrLinked = errors.New("subscriber is linked to a GOV.UK One Login account")
	// ErrBadDestination is a destination that is not a root-relative path.
	ErrBadDestination = errors.New("destination must be a path on this site, starting with /")
)

// Service runs the magic links: it issues their tokens, emails them and
// redeems them.
type Service struct {
	db        *sqlx.DB
	subs      *subscribers.Store
	templates *mail.Templates
	publicURL *url.URL
}

// NewService returns a Service; links in emails start with publicURL.
func NewService(db *sqlx.DB, subs *subscribers.Store, templates *mail.Templates, publicURL *url.URL) *Service {
	return &Service{db: db, subs: subs, templates: templates, publicURL: publicURL}
}

// CheckDestination reports whether destination is a root-relative path on
// this site: "/email/manage", never "//evil.example", "/\evil",
// "http://…", or anything with a fragment or control characters.
func CheckDestination(destination string) error {
	if !strings.HasPrefix(destination, "/") || strings.HasPrefix(destination, "//") ||
		strings.ContainsAny(destination, `\#`) || len(destination) > 2000 {
		return ErrBadDestination
	}
	for _, r := range destination {
		if r < 0x20 || r == 0x7f {
			return ErrBadDestination
		}
	}
	u, err := url.Parse(destination)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return ErrBadDestination
	}
	return nil
}

// link returns PUBLIC_URL + path with params added to its query.
func (s *Service) link(path string, params url.Values) string {
	u, _ := url.Parse(path) // checked by CheckDestination or a constant
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	u.RawQuery = q.Encode()
	return strings.TrimSuffix(s.publicURL.String(), "/") + u.RequestURI()
}

// inLanguage returns params with lang=cy added for a Welsh email (params
// itself is left alone), so that its links open the pages in Welsh, and a
// confirmation link subscribes with Welsh emails. English links carry no
// lang: the pages follow the person's own choice.
func inLanguage(params url.Values, lang string) url.Values {
	if lang != locale.Welsh {
		return params
	}
	q := url.Values{"lang": {lang}}
	for k, v := range params {
		q[k] = v
	}
	return q
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
