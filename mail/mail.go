// Package mail is the email outbox. Every email is a row in PostgreSQL,
// written in the same transaction as the change that caused it, so an email
// exists exactly when its cause does. Workers deliver each row once through
// the configured Sender (log, SMTP or GOV.UK Notify): an asynq task per
// batch of up to BatchSize emails, claimed and recorded with a statement
// each and sent side by side, queued by a poll of the outbox within 100 ms
// of the commit, with a sweep that re-enqueues whatever Redis lost (at
// once when Redis is seen to lose its data, see internal/lib/redisloss)
// and a purge of delivered bodies
// after 7 days. Transactional emails are queued and delivered before bulk
// ones, and every worker together keeps to one shared provider rate limit
// (RateLimit).
//
// The emails table is this package's: other packages write an email with
// Write and read the outbox with Latest, and every column of delivery
// (status, attempts, provider reference, body purge) changes only here.
// The one exception is alerts, whose fan-out and digest statements insert
// their own alert and digest rows (kind, priority, and their
// content_change_id, digest_run_id, covers_from) with INSERT … SELECT over
// the subscriptions: a million recipients written without leaving
// PostgreSQL, in a statement whose cursor and counts are alerts' own; and
// whose composers read those columns back.
package mail

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
)

// Email is an email to write to the outbox.
type Email struct {
	Kind     string // the template it was rendered from
	To       string
	Subject  string
	Body     string
	Priority Priority // "" is Transactional
	// ListUnsubscribeURL is the one-click unsubscribe URL (RFC 8058) of an
	// email about a list, sent as its List-Unsubscribe header or Notify's
	// one_click_unsubscribe_url; "" for transactional emails (sign-in,
	// confirmations), which carry none. It holds a token, so the outbox
	// empties it with the body once the email is delivered.
	ListUnsubscribeURL string
}

// Priority says how urgent an email is. It picks the worker queue the email
// is delivered from (the worker serves them in this order, strictly) and
// how much of the shared provider rate limit it may use.
//
// Code that fills the outbox with bulk email (alerts, digests) sets
// Priority, or the emails.priority column when it inserts rows itself.
type Priority string

const (
	// Transactional emails answer something a person just did (sign-in,
	// confirmation, address confirmation, use One Login, subscribed): they
	// go before everything else and keep a reserve of the rate limit.
	Transactional Priority = "transactional"
	// High is for alerts about content published with priority "high".
	High Priority = "high"
	// Normal is for other alerts and digests.
	Normal Priority = "normal"
)

// Priorities lists every priority, most urgent first.
var Priorities = []Priority{Transactional, High, Normal}

func (p Priority) orDefault() Priority {
	if p == "" {
		return Transactional
	}
	return p
}

// Message is one email ready to send.
type Message struct {
	ID      uuid.UUID // the outbox row id, unique per email
	To      string
	Subject string
	Body    string // plain text
	// ListUnsubscribeURL is the one-click unsubscribe URL of an email about
	// a list (see Email), "" for any other: senders then add no
	// List-Unsubscribe.
	ListUnsubscribeURL string
}

// Sender delivers one message and returns the provider's reference for it.
type Sender interface {
	Send(ctx context.Context, m Message) (reference string, err error)
}

// Finder is implemented by senders that can tell whether a message was
// already accepted by the provider: after a worker died mid-send, the next
// attempt asks before sending again.
type Finder interface {
	Find(ctx context.Context, id uuid.UUID) (reference string, found bool, err error)
}

// PermanentError marks a failure retrying cannot fix (e.g. an invalid address).
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Write adds e to the outbox inside tx. It is delivered after tx commits,
// and never if tx rolls back.
func Write(ctx context.Context, tx sqlx.ExtContext, e Email) (uuid.UUID, error) {
	return WriteWith(ctx, tx, "", nil, e)
}

// WriteWith is Write in the same statement (one round trip) as the
// caller's own change: with is a WITH clause of data-modifying queries on
// the caller's tables ("WITH t AS (INSERT …)"), whose placeholders are $1
// to $len(args). The email does not depend on what they return.
func WriteWith(ctx context.Context, tx sqlx.ExtContext, with string, args []any, e Email) (uuid.UUID, error) {
	n := len(args)
	query := fmt.Sprintf(`%s
		INSERT INTO emails (kind, address, subject, body, priority, list_unsubscribe_url)
		VALUES ($%d, $%d, $%d, $%d, $%d, NULLIF($%d, '')) RETURNING id`,
		with, n+1, n+2, n+3, n+4, n+5, n+6)
	var id uuid.UUID
	err := sqlx.GetContext(ctx, tx, &id, query, append(args, e.Kind, e.To, e.Subject, e.Body, e.Priority.orDefault(), e.ListUnsubscribeURL)...)
	if err != nil {
		return uuid.UUID{}, fmt.Errorf("write %s email: %w", e.Kind, err)
	}
	return id, nil
}
