package app

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/redis/go-redis/v9"

	"email-alert/alerts"
	"email-alert/events"
	"email-alert/internal/config"
	"email-alert/mailbox"
)

// App is the service built in one process without listeners or the
// worker, for tests outside this package (internal/testkit/testrig builds it). It
// is wired exactly as Run wires it.
type App struct{ a *app }

// New builds the app from the environment getenv reads (the names README
// lists), on db and rdb. namespace names its asynq queues and prefixes its
// Redis keys, so tests sharing one Redis do not see each other's work.
// Close releases what New opened.
func New(getenv func(string) string, db *sqlx.DB, rdb redis.UniversalClient, namespace string) (*App, error) {
	cfg, err := config.Parse(getenv)
	if err != nil {
		return nil, err
	}
	a, err := newApp(cfg, db, rdb, namespace, allRoles)
	if err != nil {
		return nil, err
	}
	return &App{a: a}, nil
}

// APIHandler is what the api process serves: the API router behind
// compression and HEAD answering.
func (a *App) APIHandler() http.Handler { return apiHandler(a.a) }

// FrontendHandler is what the frontend process serves: the pages behind
// the cross-origin check, compression and HEAD answering.
func (a *App) FrontendHandler() http.Handler { return frontendHandler(a.a) }

// APIRouter is the API's router alone, to serve requests without the
// outer handlers or walk its Routes().
func (a *App) APIRouter() *gin.Engine { return apiRouter(a.a) }

// FrontendRouter is the frontend's router alone, as APIRouter.
func (a *App) FrontendRouter() *gin.Engine { return frontendRouter(a.a) }

// MetricsHandler is what a lone worker serves on METRICS_ADDR: the
// metrics router behind HEAD answering.
func (a *App) MetricsHandler() http.Handler { return answerHEAD(metricsRouter(a.a)) }

// MetricsRouter is the metrics router alone, as APIRouter.
func (a *App) MetricsRouter() *gin.Engine { return metricsRouter(a.a) }

// DB is the database the app was built on, where tests read the outbox
// (emails) and the other tables.
func (a *App) DB() *sqlx.DB { return a.a.db }

// Processor is the account-event processor the worker runs, for tests that
// process an event without a worker.
func (a *App) Processor() *events.Processor { return a.a.processor }

// Alerts is the alert jobs' service the worker runs, for tests that fan a
// content change out without a worker.
func (a *App) Alerts() *alerts.Service { return a.a.alerts }

// Deliver delivers the outbox email id as the worker does, through the
// sender EMAIL_DELIVERY names, for tests that send without a worker.
func (a *App) Deliver(ctx context.Context, id uuid.UUID) error { return a.a.deliverer.Deliver(ctx, id) }

// Mailbox is the callbacks' and bulk unsubscribes' service the worker
// runs, for tests that run a bulk unsubscribe without a worker.
func (a *App) Mailbox() *mailbox.Service { return a.a.mailbox }

// Close releases the app's asynq client and queue UI.
func (a *App) Close() { a.a.close() }

// SignInFloor is the least time a sign-in request takes, so that every
// address gets its answer after the same time.
const SignInFloor = signInFloor

// Namespace is the namespace the service itself runs with (Run; New takes
// one of the test's), for tests that run the real binary and queue its
// work, or count it, in Redis.
const Namespace = defaultNamespace
