package magiclink

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"email-alert/linking/secret"
)

// Purpose is what a token is for: a token works only for the purpose it
// was made for.
type Purpose string

// Token purposes.
const (
	PurposeSignIn              Purpose = "sign_in"
	PurposeConfirmSubscription Purpose = "confirm_subscription"
	PurposeUnsubscribe         Purpose = "unsubscribe"
	PurposeChangeAddress       Purpose = "change_address"
)

// redemption is how a token of a purpose is redeemed.
type redemption int

const (
	// spend marks the token used in the statement that finds it: a second
	// use finds nothing.
	spend redemption = iota
	// lock finds the token, used or not, and locks it for the rest of the
	// transaction (of two clicks at once, the second waits and then finds
	// it used); the caller spends it (spendConfirmation).
	lock
	// read finds the token and leaves it as it is: it works until it
	// expires.
	read
)

// redemptions is each purpose's rule.
var redemptions = map[Purpose]redemption{
	PurposeSignIn:              spend,
	PurposeChangeAddress:       spend,
	PurposeConfirmSubscription: lock,
	PurposeUnsubscribe:         read,
}

// grant is what a new token is bound to.
type grant struct {
	Purpose      Purpose
	SubscriberID *int64
	ListID       *int64 // unsubscribe
	Address      string
	TopicID      string // confirm_subscription
	Frequency    string // confirm_subscription
	TTL          time.Duration
}

// issue stores the hash of a new token bound as g says and returns the
// token.
func issue(ctx context.Context, tx *sqlx.Tx, g grant) (string, error) {
	token, query, args := issueQuery(g)
	if _, err := tx.ExecContext(ctx, query, args...); err != nil {
		return "", fmt.Errorf("insert %s token: %w", g.Purpose, err)
	}
	return token, nil
}

// issueQuery returns a new token bound as g says and the statement, with
// its arguments, that stores its hash (issue runs it; issueWith is it as
// a WITH clause).
func issueQuery(g grant) (token, query string, args []any) {
	token, hash := secret.New()
	return token, `
		INSERT INTO auth_tokens (token_hash, purpose, subscriber_id, subscriber_list_id, address, topic_id, frequency, expires_at)
		VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), NULLIF($7, ''), now() + $8::interval)`,
		[]any{hash, string(g.Purpose), g.SubscriberID, g.ListID, g.Address, g.TopicID, g.Frequency,
			fmt.Sprintf("%d seconds", int64(g.TTL.Seconds()))}
}

// issueWith is issueQuery as a WITH clause, for mail.WriteWith: the token
// and the email that carries it in one statement.
func issueWith(g grant) (token, with string, args []any) {
	token, query, args := issueQuery(g)
	return token, "WITH token AS (" + query + ")", args
}

// redeemed is a token as redeem found it.
type redeemed struct {
	ID           int64  `db:"id"`
	SubscriberID *int64 `db:"subscriber_id"`
	ListID       *int64 `db:"subscriber_list_id"`
	Address      string `db:"address"`
	TopicID      string `db:"topic_id"`
	Frequency    string `db:"frequency"`
	// Used is true for a token used before (only a lock purpose finds one).
	Used bool `db:"used"`
}

const redeemedColumns = `id, subscriber_id, subscriber_list_id, address,
	COALESCE(topic_id, '') AS topic_id, COALESCE(frequency, '') AS frequency`

// redeem finds the unexpired token of purpose p, in q (a transaction for
// spend and lock), by p's rule (redemptions). Anything else (malformed,
// unknown, expired, another purpose's, spent) is ErrTokenInvalid.
func redeem(ctx context.Context, q sqlx.QueryerContext, p Purpose, token string) (redeemed, error) {
	if !secret.WellFormed(token) {
		return redeemed{}, ErrTokenInvalid
	}
	var query string
	switch redemptions[p] {
	case spend:
		query = `UPDATE auth_tokens SET used_at = now()
			WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > now()
			RETURNING ` + redeemedColumns + `, false AS used`
	case lock:
		query = `SELECT ` + redeemedColumns + `, used_at IS NOT NULL AS used FROM auth_tokens
			WHERE token_hash = $1 AND purpose = $2 AND expires_at > now()
			FOR UPDATE`
	case read:
		query = `SELECT ` + redeemedColumns + `, used_at IS NOT NULL AS used FROM auth_tokens
			WHERE token_hash = $1 AND purpose = $2 AND expires_at > now()`
	}
	var t redeemed
	err := sqlx.GetContext(ctx, q, &t, query, secret.Hash(token), string(p))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrTokenInvalid
	}
	if err != nil {
		return redeemed{}, fmt.Errorf("redeem %s token: %w", p, err)
	}
	return t, nil
}

// spendConfirmation marks the confirmation token id used, keeping the
// subscriber it subscribed, so a later click finds the subscription even
// after an address change.
func spendConfirmation(ctx context.Context, tx *sqlx.Tx, id, subscriberID int64) error {
	if _, err := tx.ExecContext(ctx, `UPDATE auth_tokens SET used_at = now(), subscriber_id = $2 WHERE id = $1`,
		id, subscriberID); err != nil {
		return fmt.Errorf("spend confirmation token: %w", err)
	}
	return nil
}

// EndSignIns deletes, in tx, the sign-in tokens of subscriberID (it has
// been linked to an account, and signs in with One Login from now on).
func EndSignIns(ctx context.Context, tx *sqlx.Tx, subscriberID int64) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM auth_tokens WHERE subscriber_id = $1 AND purpose = 'sign_in'`, subscriberID); err != nil {
		return fmt.Errorf("end sign-in tokens: %w", err)
	}
	return nil
}
