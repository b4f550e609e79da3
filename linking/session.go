package linking

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"email-alert/subscribers"
)

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
	Account Account
}

// HasSubscriber reports whether the session has a subscriber to manage.
func (s Session) HasSubscriber() bool { return s.Subscriber.ID != 0 }

// Cause is the cause of a change made in this session, for the audit
// trail: the session's database id, never its token.
func (s Session) Cause() subscribers.Cause { return subscribers.SessionCause(s.ID) }

// createSession opens a magic-link session for subscriberID in tx and
// returns its token, which only the cookie holds.
func createSession(ctx context.Context, tx *sqlx.Tx, subscriberID int64, method string) (string, error) {
	token, hash := newToken()
	_, err := tx.ExecContext(ctx, `
		INSERT INTO sessions (token_hash, subscriber_id, method, expires_at)
		VALUES ($1, $2, $3, now() + $4::interval)`,
		hash, subscriberID, method, fmt.Sprintf("%d seconds", int64(SessionTTL.Seconds())))
	if err != nil {
		return "", fmt.Errorf("create session: %w", err)
	}
	return token, nil
}

// createAccountSession opens a session for a One Login account, keeping
// the ID token for sign-out and nothing else the provider gave, and returns
// its token and its database id.
func createAccountSession(ctx context.Context, tx *sqlx.Tx, a Account, idToken string) (string, int64, error) {
	token, hash := newToken()
	var id int64
	err := tx.GetContext(ctx, &id, `
		INSERT INTO sessions (token_hash, method, govuk_account_id, email, email_verified, id_token, expires_at)
		VALUES ($1, 'account', $2, $3, $4, $5, now() + $6::interval) RETURNING id`,
		hash, a.Sub, a.Email, a.EmailVerified, idToken, fmt.Sprintf("%d seconds", int64(SessionTTL.Seconds())))
	if err != nil {
		return "", 0, fmt.Errorf("create account session: %w", err)
	}
	return token, id, nil
}

// Session returns the live session of token, or ErrNoSession. A
// magic-link session ends when its subscriber is linked to an account.
func (s *Service) Session(ctx context.Context, token string) (Session, error) {
	if !wellFormed(token) {
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
		  AND NOT EXISTS (SELECT 1 FROM deleted_accounts d WHERE d.sub = s.govuk_account_id)`, hashToken(token))
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, ErrNoSession
	}
	if err != nil {
		return Session{}, fmt.Errorf("session: %w", err)
	}
	session := Session{ID: row.ID, Method: row.Method, ExpiresAt: row.ExpiresAt}
	if row.Method == MethodAccount {
		session.Account = Account{Sub: *row.Sub, Email: deref(row.Email), EmailVerified: row.EmailVerified != nil && *row.EmailVerified}
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

// EndSession ends the session of token, if there is one.
func (s *Service) EndSession(ctx context.Context, token string) error {
	if !wellFormed(token) {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE token_hash = $1`, hashToken(token)); err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}

func orInvalid(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrTokenInvalid
	}
	return err
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
