// Package linking signs people in and (with One Login) links subscribers
// to accounts. This file holds what magic links need: single-purpose
// tokens that are random (256 bits), stored only as a SHA-256 hash,
// expiring, and for sign-in single use; and the sessions they open.
package linking

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"email-alert/mail"
	"email-alert/subscribers"
)

// Token lifetimes (DESIGN.md, "Magic links").
const (
	SignInTTL        = 24 * time.Hour
	ConfirmTTL       = 7 * 24 * time.Hour
	SessionTTL       = 4 * time.Hour
	UnsubscribeTTL   = 365 * 24 * time.Hour
	ChangeAddressTTL = 24 * time.Hour
)

// Token purposes: a token works only for the purpose it was made for.
const (
	PurposeSignIn              = "sign_in"
	PurposeConfirmSubscription = "confirm_subscription"
	PurposeUnsubscribe         = "unsubscribe"
	PurposeChangeAddress       = "change_address"
)

// Session methods.
const (
	MethodMagicLink = "magic_link"
	MethodAccount   = "account"
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
	// ErrNoSession is a missing, unknown or expired session.
	ErrNoSession = errors.New("no session")
)

// Service runs magic-link sign-in, subscription confirmation and sessions.
type Service struct {
	db        *sqlx.DB
	subs      *subscribers.Store
	templates *mail.Templates
	publicURL *url.URL
	rp        *RelyingParty // nil: no One Login
}

// NewService returns a Service; links in emails start with publicURL. rp
// may be nil, leaving One Login sign-in out.
func NewService(db *sqlx.DB, subs *subscribers.Store, templates *mail.Templates, publicURL *url.URL, rp *RelyingParty) *Service {
	return &Service{db: db, subs: subs, templates: templates, publicURL: publicURL, rp: rp}
}

// newToken returns a random token and the hash that is stored for it.
func newToken() (string, []byte) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	token := base64.RawURLEncoding.EncodeToString(b)
	return token, hashToken(token)
}

func hashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// wellFormed rejects anything that cannot be one of our tokens before it
// reaches the database.
func wellFormed(token string) bool {
	if len(token) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(token)
	return err == nil
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

func (s *Service) inTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// writeEmail renders the email of kind and writes it to the outbox in tx.
func (s *Service) writeEmail(ctx context.Context, tx *sqlx.Tx, kind, to string, data any) error {
	e, err := s.templates.Render(kind, to, data)
	if err != nil {
		return err
	}
	_, err = mail.Write(ctx, tx, e)
	return err
}

// tokenRow is what a token is bound to.
type tokenRow struct {
	Purpose      string
	SubscriberID *int64
	ListID       *int64 // unsubscribe
	Address      string
	TopicID      string // confirm_subscription
	Frequency    string // confirm_subscription
	TTL          time.Duration
}

// insertToken stores the hash of a new token bound as r says and returns
// the token.
func insertToken(ctx context.Context, tx *sqlx.Tx, r tokenRow) (string, error) {
	token, hash := newToken()
	_, err := tx.ExecContext(ctx, `
		INSERT INTO auth_tokens (token_hash, purpose, subscriber_id, subscriber_list_id, address, topic_id, frequency, expires_at)
		VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), NULLIF($7, ''), now() + $8::interval)`,
		hash, r.Purpose, r.SubscriberID, r.ListID, r.Address, r.TopicID, r.Frequency,
		fmt.Sprintf("%d seconds", int64(r.TTL.Seconds())))
	if err != nil {
		return "", fmt.Errorf("insert %s token: %w", r.Purpose, err)
	}
	return token, nil
}
