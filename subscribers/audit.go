package subscribers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// Cause is who or what made a change to a subscriber, as the audit trail
// records it. ID names the cause without revealing a secret: never a
// bearer token, session token or cookie.
type Cause struct {
	Kind string `db:"kind" json:"kind"`
	ID   string `db:"id" json:"id"`
}

// Kinds of cause.
const (
	CauseAPI       = "api"        // a JSON API client; ID: its token's fingerprint
	CauseSession   = "session"    // a signed-in person; ID: sessions.id
	CauseEmailLink = "email_link" // a link emailed to the person; ID: auth_tokens.id
	CauseOneClick  = "one_click"  // a mail client's one-click unsubscribe (RFC 8058); ID: auth_tokens.id
	CauseEvent     = "event"      // an account lifecycle event; ID: account_events.id (a SET's jti)
	CauseSystem    = "system"     // the service itself; ID: the job's name
	CauseCallback  = "callback"   // an email provider's callback; ID: what it is about (CallbackCause)
)

// APICause is a change asked for by the API client whose token has the
// fingerprint client (jsonapi.Client).
func APICause(client string) Cause { return Cause{Kind: CauseAPI, ID: client} }

// SessionCause is a change made by the person signed in with session id.
func SessionCause(id int64) Cause { return Cause{Kind: CauseSession, ID: strconv.FormatInt(id, 10)} }

// EmailLinkCause is a change made by following the emailed link whose
// token has the database id tokenID.
func EmailLinkCause(tokenID int64) Cause {
	return Cause{Kind: CauseEmailLink, ID: strconv.FormatInt(tokenID, 10)}
}

// OneClickCause is a change made by a one-click unsubscribe (RFC 8058):
// the person's mail client, or their provider, posted the List-Unsubscribe
// URL holding the token whose database id is tokenID.
func OneClickCause(tokenID int64) Cause {
	return Cause{Kind: CauseOneClick, ID: strconv.FormatInt(tokenID, 10)}
}

// EventCause is a change made by applying the account event id.
func EventCause(id string) Cause { return Cause{Kind: CauseEvent, ID: id} }

// CallbackCause is a change made on an email provider's callback about
// what (a notification id, an email's id), of the kind callback
// ("status-update", "spam-report"): "status-update:<id>".
func CallbackCause(callback, what string) Cause {
	return Cause{Kind: CauseCallback, ID: callback + ":" + what}
}

// SystemCause is a change made by the service's own job.
func SystemCause(job string) Cause { return Cause{Kind: CauseSystem, ID: job} }

// Actions recorded in the audit trail.
const (
	AuditCreated            = "created"
	AuditLinked             = "linked"
	AuditUnlinked           = "unlinked"
	AuditAddressChanged     = "address_changed"
	AuditMerged             = "merged"
	AuditSubscriptionsEnded = "subscriptions_ended"
	AuditAddressRemoved     = "address_removed"
)

// AuditEntry is one recorded change to a subscriber. Details never hold an
// email address (see migrations/00007_audit.sql).
type AuditEntry struct {
	ID        int64           `db:"id" json:"id"`
	Action    string          `db:"action" json:"action"`
	Cause     Cause           `db:"cause" json:"cause"`
	Details   json.RawMessage `db:"details" json:"details"`
	CreatedAt time.Time       `db:"created_at" json:"created_at"`
}

// change is one row for recordAudit.
type change struct {
	subscriberID int64
	action       string
	details      map[string]any
}

// errNoCause is a change attempted without saying why: a programming error,
// which rolls the change back rather than leave it unrecorded.
var errNoCause = errors.New("audit: change without a cause")

// recordAudit writes changes, all with cause, to the audit trail in tx,
// the transaction making them, in one INSERT.
func recordAudit(ctx context.Context, tx *sqlx.Tx, cause Cause, changes ...change) error {
	insert, args, err := auditInsert(cause, 0, changes...)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, insert, args...); err != nil {
		return fmt.Errorf("record audit: %w", err)
	}
	return nil
}

// withAudit prefixes statement, whose parameters are args, with a WITH
// clause recording changes, so that the change and its record are one
// statement (one round trip). It returns the combined statement and its
// arguments; statement's own result (RETURNING rows, affected rows) is
// the combined statement's.
func withAudit(statement string, args []any, cause Cause, changes ...change) (string, []any, error) {
	insert, auditArgs, err := auditInsert(cause, len(args), changes...)
	if err != nil {
		return "", nil, err
	}
	return "WITH audit AS (" + insert + ") " + statement, append(args, auditArgs...), nil
}

// auditEach wraps statement, whose parameters are args and which changes
// subscribers RETURNING the id of each, so that the same statement records
// action with cause for every subscriber it changed: a change to a set of
// subscribers chosen inside PostgreSQL, recorded in one round trip. The
// combined statement affects one audit row per subscriber changed.
func auditEach(statement string, args []any, cause Cause, action string) (string, []any, error) {
	if cause.Kind == "" || cause.ID == "" {
		return "", nil, errNoCause
	}
	n := len(args)
	return fmt.Sprintf(`WITH changed AS (%s)
		INSERT INTO subscriber_audit (subscriber_id, action, cause_kind, cause_id)
		SELECT id, $%d, $%d, $%d FROM changed`, statement, n+1, n+2, n+3),
		append(args, action, cause.Kind, cause.ID), nil
}

// auditInsert returns the INSERT of changes into the audit trail and its
// arguments, numbering its parameters from after+1.
func auditInsert(cause Cause, after int, changes ...change) (string, []any, error) {
	if cause.Kind == "" || cause.ID == "" {
		return "", nil, errNoCause
	}
	var (
		values strings.Builder
		args   = []any{cause.Kind, cause.ID}
	)
	for i, ch := range changes {
		details, err := json.Marshal(ch.details)
		if err != nil {
			return "", nil, fmt.Errorf("audit details: %w", err)
		}
		if ch.details == nil {
			details = []byte("{}")
		}
		if i > 0 {
			values.WriteString(", ")
		}
		n := after + len(args)
		fmt.Fprintf(&values, "($%d, $%d, $%d, $%d, $%d)", n+1, n+2, after+1, after+2, n+3)
		args = append(args, ch.subscriberID, ch.action, string(details))
	}
	return `INSERT INTO subscriber_audit (subscriber_id, action, cause_kind, cause_id, details) VALUES ` +
		values.String(), args, nil
}

// AuditTrail returns every recorded change to the subscriber id, oldest
// first. An unknown subscriber is ErrNotFound.
func (s *Store) AuditTrail(ctx context.Context, id int64) ([]AuditEntry, error) {
	var exists bool
	if err := s.db.GetContext(ctx, &exists, `SELECT EXISTS (SELECT 1 FROM subscribers WHERE id = $1)`, id); err != nil {
		return nil, fmt.Errorf("audit of %d: %w", id, err)
	}
	if !exists {
		return nil, fmt.Errorf("audit of %d: %w", id, ErrNotFound)
	}
	entries := []AuditEntry{}
	err := s.db.SelectContext(ctx, &entries, `
		SELECT id, action, cause_kind AS "cause.kind", cause_id AS "cause.id", details, created_at
		FROM subscriber_audit WHERE subscriber_id = $1 ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("audit of %d: %w", id, err)
	}
	return entries, nil
}
