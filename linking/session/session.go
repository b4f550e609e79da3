// Package session owns the sessions table and the tombstones of deleted
// One Login accounts (deleted_accounts). A session is a signed-in person:
// by magic link (a subscriber) or by One Login (an account, linked to a
// subscriber when its email is verified). Its token lives only in the
// cookie; the table holds its hash. A session is live until it expires,
// is ended, its magic-link subscriber is linked to an account, or its
// account is deleted: a deleted account's sessions never come back, and
// it cannot sign in again.
package session

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"email-alert/linking/onelogin"
	"email-alert/linking/secret"
	"email-alert/subscribers"
)

// TTL is how long a session lasts (DESIGN.md, "Magic links").
const TTL = 4 * time.Hour

// Session methods.
const (
	MethodMagicLink = "magic_link"
	MethodAccount   = "account"
)

// ErrNoSession is a missing, unknown or expired session.
var ErrNoSession = errors.New("no session")

// Session is a signed-in person: by magic link (a subscriber) or by
// One Login (an account, linked to a subscriber when its email is
// verified).
type Session struct {
	ID        int64
	Method    string
	ExpiresAt time.Time
	// Subscriber is the subscriber signed in, or linked to the account;
	// its ID is 0 for an account that is not linked.
	Subscriber subscribers.Subscriber
	// Account is set for account sessions.
	Account onelogin.Account
}

// HasSubscriber reports whether the session has a subscriber to manage.
func (s Session) HasSubscriber() bool { return s.Subscriber.ID != 0 }

// Cause is the cause of a change made in this session, for the audit
// trail: the session's database id, never its token.
func (s Session) Cause() subscribers.Cause { return subscribers.SessionCause(s.ID) }

// Store reads and ends sessions.
type Store struct {
	db   *sqlx.DB
	subs *subscribers.Store
}

// NewStore returns a Store on db; subs finds the sessions' subscribers.
func NewStore(db *sqlx.DB, subs *subscribers.Store) *Store {
	return &Store{db: db, subs: subs}
}

// CreateMagicLink opens a magic-link session for subscriberID in tx and
// returns its token, which only the cookie holds.
func CreateMagicLink(ctx context.Context, tx *sqlx.Tx, subscriberID int64) (string, error) {
	token, hash := secret.New()
	_, err := tx.ExecContext(ctx, `
		INSERT INTO sessions (token_hash, subscriber_id, method, expires_at)
		VALUES ($1, $2, $3, now() + $4::interval)`,
		hash, subscriberID, MethodMagicLink, fmt.Sprintf("%d seconds", int64(TTL.Seconds())))
	if err != nil {
		return "", fmt.Errorf("create session: %w", err)
	}
	return token, nil
}

// CreateAccount opens a session for a One Login account, keeping the ID
// token for sign-out and nothing else the provider gave, and returns its
// token and its database id.
func CreateAccount(ctx context.Context, tx *sqlx.Tx, a onelogin.Account, idToken string) (string, int64, error) {
	token, hash := secret.New()
	var id int64
	err := tx.GetContext(ctx, &id, `
		INSERT INTO sessions (token_hash, method, govuk_account_id, email, email_verified, id_token, expires_at)
		VALUES ($1, 'account', $2, $3, $4, $5, now() + $6::interval) RETURNING id`,
		hash, a.Sub, a.Email, a.EmailVerified, idToken, fmt.Sprintf("%d seconds", int64(TTL.Seconds())))
	if err != nil {
		return "", 0, fmt.Errorf("create account session: %w", err)
	}
	return token, id, nil
}

// Get returns the live session of token, or ErrNoSession. A magic-link
// session ends when its subscriber is linked to an account.
func (s *Store) Get(ctx context.Context, token string) (Session, error) {
	if !secret.WellFormed(token) {
		return Session{}, ErrNoSession
	}
	var row struct {
		ID            int64     `db:"id"`
		Method        string    `db:"method"`
		ExpiresAt     time.Time `db:"expires_at"`
		SubscriberID  *int64    `db:"subscriber_id"`
		Sub           *string   `db:"govuk_account_id"`
		Email         *string   `db:"email"`
		EmailVerified *bool     `db:"email_verified"`
	}
	err := s.db.GetContext(ctx, &row, `
		SELECT id, method, expires_at, subscriber_id, govuk_account_id, email, email_verified FROM sessions s
		WHERE token_hash = $1 AND expires_at > now()
		  AND NOT `+AccountDeletedSQL("s.govuk_account_id"), secret.Hash(token))
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, ErrNoSession
	}
	if err != nil {
		return Session{}, fmt.Errorf("session: %w", err)
	}
	session := Session{ID: row.ID, Method: row.Method, ExpiresAt: row.ExpiresAt}
	if row.Method == MethodAccount {
		session.Account = onelogin.Account{Sub: *row.Sub, Email: deref(row.Email), EmailVerified: row.EmailVerified != nil && *row.EmailVerified}
		session.Subscriber, err = s.subs.SubscriberByAccount(ctx, *row.Sub)
		if err != nil && !errors.Is(err, subscribers.ErrNotFound) {
			return Session{}, err
		}
		return session, nil
	}
	if session.Subscriber, err = s.subs.SubscriberByID(ctx, *row.SubscriberID); err != nil {
		return Session{}, err
	}
	if session.Subscriber.Linked() {
		return Session{}, ErrNoSession
	}
	return session, nil
}

// End ends the session of token, if there is one.
func (s *Store) End(ctx context.Context, token string) error {
	if !secret.WellFormed(token) {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE token_hash = $1`, secret.Hash(token)); err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}

// EndForSignOut ends the session of token and says whether it was an
// account session, with the ID token it kept (for the provider's
// end-session hint). No such session is ErrNoSession.
func (s *Store) EndForSignOut(ctx context.Context, token string) (account bool, idToken string, err error) {
	if !secret.WellFormed(token) {
		return false, "", ErrNoSession
	}
	var ended struct {
		Method  string  `db:"method"`
		IDToken *string `db:"id_token"`
	}
	err = s.db.GetContext(ctx, &ended, `DELETE FROM sessions WHERE token_hash = $1 RETURNING method, id_token`, secret.Hash(token))
	if errors.Is(err, sql.ErrNoRows) {
		return false, "", ErrNoSession
	}
	if err != nil {
		return false, "", fmt.Errorf("sign out: %w", err)
	}
	return ended.Method == MethodAccount, deref(ended.IDToken), nil
}

// EndAllOfAccount ends, in tx, every session of the One Login account sub
// (a back-channel logout).
func EndAllOfAccount(ctx context.Context, tx *sqlx.Tx, sub string) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE govuk_account_id = $1`, sub)
	return err
}

// EndMagicLinkSessions ends, in tx, the magic-link sessions of
// subscriberID (it has been linked to an account).
func EndMagicLinkSessions(ctx context.Context, tx *sqlx.Tx, subscriberID int64) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE subscriber_id = $1 AND method = 'magic_link'`, subscriberID); err != nil {
		return fmt.Errorf("end magic-link sessions: %w", err)
	}
	return nil
}

// DeleteAccount, in tx, ends every session of the One Login account sub
// and leaves its tombstone, recording the event eventID that deleted it:
// one statement. Deleting an account twice keeps the first tombstone.
func DeleteAccount(ctx context.Context, tx *sqlx.Tx, sub, eventID string) error {
	if _, err := tx.ExecContext(ctx, `
		WITH ended AS (DELETE FROM sessions WHERE govuk_account_id = $1)
		INSERT INTO deleted_accounts (sub, event_id) VALUES ($1, $2) ON CONFLICT (sub) DO NOTHING`, sub, eventID); err != nil {
		return fmt.Errorf("end sessions and leave a tombstone: %w", err)
	}
	return nil
}

// AccountDeleted reports whether the One Login account sub was deleted.
func AccountDeleted(ctx context.Context, q sqlx.QueryerContext, sub string) (bool, error) {
	var deleted bool
	err := sqlx.GetContext(ctx, q, &deleted, `SELECT `+AccountDeletedSQL("$1"), sub)
	return deleted, err
}

// AccountDeletedSQL is the SQL condition "the account whose sub is the
// expression sub was deleted", for a statement that reads it along with
// other things in one round trip (an account event's load).
func AccountDeletedSQL(sub string) string {
	return `EXISTS (SELECT 1 FROM deleted_accounts d WHERE d.sub = ` + sub + `)`
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
