// Package alerts turns content changes into emails. A content change is
// stored, with its job, in one row before it is acknowledged; a task
// matches it once against the subscriber lists' criteria (in PostgreSQL:
// a GIN index on each list's match keys, then the exact any/all rule on
// the candidates), records the lists it matched, and writes one email per
// immediate subscriber into mail/'s outbox in bounded, set-based batches
// from a cursor kept on the row. Digest runs, one row per (frequency,
// date), do the same for daily and weekly subscribers. A unique key on
// each email (content change or run, subscriber) makes "exactly one" a
// database fact, so a crashed, retried or doubled job sends nobody a
// second email, and a sweep re-enqueues whatever Redis lost: PostgreSQL is
// the truth. Alert and digest emails are rendered when they are sent
// (compose.go), from one body per content change.
package alerts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"

	"email-alert/mail"
)

// Task types.
const (
	TypeFanOut         = "alerts:fan-out"
	TypeDigestRun      = "alerts:digest-run"
	TypeSweep          = "alerts:sweep"
	TypeDigestSchedule = "alerts:digest-schedule"
)

// Email kinds, each rendered from templates/email/<kind>.txt at send time.
const (
	KindAlert  = "alert"
	KindDigest = "digest"
)

// Domain errors.
var (
	ErrDuplicate = errors.New("content change already received")
	ErrNotFound  = errors.New("not found")
)

// Queues are the asynq queues of alert jobs: High for priority "high"
// content (travel advice and the like), served before Normal.
type Queues struct {
	Normal, High, Maintenance string
}

// Config is what the alert jobs need besides their connections.
type Config struct {
	Queues Queues
	// WebsiteRoot is the base of content links (GOVUK_WEBSITE_ROOT).
	WebsiteRoot *url.URL
	// DigestTime is the local time of day (Europe/London) of digest runs.
	DigestHour, DigestMinute int
	// BatchSize is how many emails one fan-out or digest statement writes.
	BatchSize int
}

// Links makes the per-recipient links of an email when it is sent.
type Links interface {
	// Link returns the unsubscribe page's link, for the body, and the
	// one-click unsubscribe URL, for List-Unsubscribe.
	Link(ctx context.Context, subscriberID, listID int64, subscriptionID uuid.UUID, address string) (page, oneClick string, err error)
	ManageLink() string
}

// Service receives content changes and runs the alert jobs.
type Service struct {
	db        *sqlx.DB
	client    *asynq.Client
	cfg       Config
	templates *mail.Templates
	links     Links
	london    *time.Location
	observe   Observer
}

// Observer is told what happens, for metrics. Every field may be nil.
type Observer struct {
	ContentChangeReceived func(priority string)
	EmailsGenerated       func(kind string, n int)
	FanOutFinished        func(latency time.Duration)
	DigestRun             func(frequency, event string, emails int)
}

// New returns the service. templates must hold the alert and digest
// templates.
func New(db *sqlx.DB, client *asynq.Client, cfg Config, templates *mail.Templates, links Links) (*Service, error) {
	if err := templates.Require(KindAlert, KindDigest); err != nil {
		return nil, err
	}
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		return nil, fmt.Errorf("alerts: %w", err)
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 1000
	}
	return &Service{db: db, client: client, cfg: cfg, templates: templates, links: links, london: london}, nil
}

// Observe has o told what happens.
func (s *Service) Observe(o Observer) { s.observe = o }

func (s *Service) generated(kind string, n int) {
	if s.observe.EmailsGenerated != nil && n > 0 {
		s.observe.EmailsGenerated(kind, n)
	}
}

// enqueue hands a task to asynq; one already waiting (same TaskID) is left
// as it is.
func (s *Service) enqueue(ctx context.Context, t *asynq.Task) error {
	_, err := s.client.EnqueueContext(ctx, t)
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) && !errors.Is(err, asynq.ErrDuplicateTask) {
		return fmt.Errorf("enqueue %s: %w", t.Type(), err)
	}
	return nil
}

// logEnqueueFailure records an enqueue that failed after the commit: the
// row is already durable and the sweep enqueues it again.
func logEnqueueFailure(ctx context.Context, what string, err error) {
	slog.WarnContext(ctx, "alerts: enqueue failed; the sweep will retry", "job", what, "error", err)
}
