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

// Session is a signed-in person.
type Session struct {
	ID         int64
	Method     string
	ExpiresAt  time.Time
	Subscriber subscribers.Subscriber
}

// createSession opens a session for subscriberID in tx and returns its
// token, which only the cookie holds.
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

// Session returns the live session of token with its subscriber, or
// ErrNoSession.
func (s *Service) Session(ctx context.Context, token string) (Session, error) {
	if !wellFormed(token) {
		return Session{}, ErrNoSession
	}
	var row struct {
		ID           int64     `db:"id"`
		Method       string    `db:"method"`
		ExpiresAt    time.Time `db:"expires_at"`
		SubscriberID int64     `db:"subscriber_id"`
	}
	err := s.db.GetContext(ctx, &row, `
		SELECT id, method, expires_at, subscriber_id FROM sessions
		WHERE token_hash = $1 AND expires_at > now()`, hashToken(token))
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, ErrNoSession
	}
	if err != nil {
		return Session{}, fmt.Errorf("session: %w", err)
	}
	subscriber, err := s.subs.SubscriberByID(ctx, row.SubscriberID)
	if err != nil {
		return Session{}, err
	}
	// A magic-link session ends when its subscriber is linked to an
	// account: from then on only the account signs in.
	if row.Method == MethodMagicLink && subscriber.Linked() {
		return Session{}, ErrNoSession
	}
	return Session{ID: row.ID, Method: row.Method, ExpiresAt: row.ExpiresAt, Subscriber: subscriber}, nil
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
