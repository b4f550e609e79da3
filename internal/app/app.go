// Package app is the composition root of email-alert: it reads the
// configuration, opens PostgreSQL and Redis, builds each domain package's
// stores and services, and serves the api, frontend and worker processes
// (cmd/email-alert only calls Run). Everything the service is made of is
// wired here, by hand, in one place.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq" // the PostgreSQL driver
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"email-alert/alerts"
	"email-alert/events"
	"email-alert/frontend"
	"email-alert/internal/config"
	"email-alert/internal/lib/pgdb"
	"email-alert/linking"
	"email-alert/linking/magiclink"
	"email-alert/linking/onelogin"
	"email-alert/mail"
	"email-alert/mailbox"
	"email-alert/metrics"
	"email-alert/migrations"
	"email-alert/ratelimit"
	"email-alert/subscribers"
	"email-alert/templates"
)

const usage = `usage: email-alert <command>

commands:
  migrate    apply the database migrations and exit
  digest daily|weekly [--at RFC3339]
             run (or resume) the digest run ending at --at (default: the
             latest scheduled time), exit once its emails are in the outbox
  api        serve the JSON API on API_ADDR
  frontend   serve the pages on FRONTEND_ADDR
  worker     run the background jobs
  all        api, frontend and worker in one process

Configuration is read from the environment; see README.md.
`

// errUsage is returned for a missing or unknown subcommand.
var errUsage = errors.New("see usage above")

// run is main without the process: it returns when ctx is cancelled (a
// signal) or a component fails.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	return runWithOutput(ctx, args, getenv, os.Stdout, stderr)
}

// Run is the email-alert command: args are its arguments (a subcommand,
// see usage), getenv its environment, stdout takes the digest command's
// result and stderr the usage and the logs. It returns when ctx is
// cancelled (a signal) or a component fails.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return runWithOutput(ctx, args, getenv, stdout, stderr)
}

// runWithOutput is run with the writer of the digest command's result.
func runWithOutput(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (len(args) != 1 && args[0] != "digest") {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	command := args[0]
	switch command {
	case "migrate", "api", "frontend", "worker", "all", "digest":
	case "help", "-h", "--help":
		fmt.Fprint(stderr, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q: %w", command, errUsage)
	}

	cfg, err := config.Parse(getenv)
	if err != nil {
		return err
	}
	slog.SetDefault(newLogger(cfg.Local, stderr))
	gin.SetMode(gin.ReleaseMode)

	db, err := openDB(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()

	if command == "migrate" {
		results, err := migrations.Up(ctx, db.DB)
		for _, r := range results {
			slog.Info("migration applied", "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration)
		}
		if err != nil {
			return err
		}
		slog.Info("database schema is up to date", "applied", len(results))
		return nil
	}

	if err := migrations.Check(ctx, db.DB); err != nil {
		return fmt.Errorf("refusing to start: %w", err)
	}
	if command == "digest" {
		return digest(ctx, cfg, db, args[1:], stdout)
	}
	rdb, err := newRedisClient(cfg.Redis)
	if err != nil {
		return err
	}
	defer rdb.Close()

	a, err := newApp(cfg, db, rdb, defaultNamespace, rolesOf(command))
	if err != nil {
		return err
	}
	defer a.close()
	g, ctx := errgroup.WithContext(ctx)
	if command == "api" || command == "all" {
		g.Go(func() error { return serve(ctx, "api", cfg.APIAddr, apiHandler(a)) })
		if cfg.APITokensAreDefault {
			slog.Info("API_TOKENS is not set: the API accepts the development token",
				"header", "Authorization: Bearer "+config.DevAPIToken)
		}
	}
	if command == "frontend" || command == "all" {
		g.Go(func() error { return serve(ctx, "frontend", cfg.FrontendAddr, frontendHandler(a)) })
	}
	if command == "worker" || command == "all" {
		g.Go(func() error { return work(ctx, a) })
	}
	if command == "worker" && cfg.MetricsAddr != "" {
		g.Go(func() error { return serve(ctx, "metrics", cfg.MetricsAddr, answerHEAD(metricsRouter(a))) })
	}
	return g.Wait()
}

// digest runs the digest command: `digest daily|weekly [--at RFC3339]`.
// It needs PostgreSQL only: the run is generated in this process, and the
// workers deliver its emails from the outbox.
func digest(ctx context.Context, cfg *config.Config, db *sqlx.DB, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("digest", flag.ContinueOnError)
	at := fs.String("at", "", "the end of the run's window (RFC 3339); default: the latest scheduled time")
	if len(args) == 0 || (args[0] != alerts.Daily && args[0] != alerts.Weekly) {
		return fmt.Errorf("digest: say daily or weekly: %w", errUsage)
	}
	frequency := args[0]
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 {
		return fmt.Errorf("digest: %w", errUsage)
	}
	emails, err := mail.ParseTemplates(templates.Email)
	if err != nil {
		return err
	}
	s, err := newAlerts(cfg, db, nil, emails, defaultNamespace)
	if err != nil {
		return err
	}
	end := s.LatestScheduled(frequency, time.Now())
	if *at != "" {
		if end, err = time.Parse(time.RFC3339, *at); err != nil {
			return fmt.Errorf("digest: --at must be an RFC 3339 time: %w", errUsage)
		}
	}
	n, err := s.Digest(ctx, frequency, end)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s digest run for %s: %d emails in the outbox\n", frequency, end.Format(time.RFC3339), n)
	return nil
}

// defaultNamespace names the asynq queue of every task and prefixes the
// rate-limit keys in Redis. Tests use one of their own.
const defaultNamespace = "email-alert"

// roles are the processes one run of the command serves, and so what
// newApp builds: the page templates and assets only where pages are
// served. What a process does not serve, it does not hold in memory.
type roles struct{ api, frontend, worker bool }

// allRoles is the `all` command's: the api, frontend and worker together.
var allRoles = roles{api: true, frontend: true, worker: true}

// rolesOf returns the roles of a serving command (api, frontend, worker,
// all).
func rolesOf(command string) roles {
	if command == "all" {
		return allRoles
	}
	return roles{api: command == "api", frontend: command == "frontend", worker: command == "worker"}
}

// app holds what the routers and the worker are built from. pages and
// assets are nil in a process that serves no pages, compress in one that
// serves no HTTP but metrics.
type app struct {
	cfg         *config.Config
	db          *sqlx.DB
	redis       redis.UniversalClient
	namespace   string
	asynq       *asynq.Client
	subscribers *subscribers.API
	linking     *linking.API
	pages       *frontend.Pages
	assets      *frontend.Assets
	dispatcher  *mail.Dispatcher
	deliverer   *mail.Deliverer
	events      *events.API
	inbox       *events.Inbox
	processor   *events.Processor
	alerts      *alerts.Service
	alertsAPI   *alerts.API
	mailbox     *mailbox.Service
	mailboxAPI  *mailbox.API
	metrics     *metrics.Metrics
	queueUI     *queueUI
	compress    func(http.Handler) http.HandlerFunc
}

// queue names the asynq queue of one kind of work ("email", "events",
// "maintenance", "bulk-high", "bulk"): separate queues, so the worker can
// rank them.
func (a *app) queue(kind string) string { return a.namespace + ":" + kind }

func newApp(cfg *config.Config, db *sqlx.DB, rdb redis.UniversalClient, namespace string, serves roles) (*app, error) {
	emails, err := mail.ParseTemplates(templates.Email)
	if err != nil {
		return nil, err
	}
	sender, err := newSender(cfg)
	if err != nil {
		return nil, err
	}
	store := subscribers.NewStore(db, magiclink.SubscribedEmail(emails, cfg.PublicURL))
	rp := onelogin.NewRelyingParty(onelogin.OIDCConfig{
		IssuerURL:             cfg.OIDCIssuerURL,
		ClientID:              cfg.OIDCClientID,
		PrivateKey:            cfg.OIDCPrivateKey,
		ClientSecret:          cfg.OIDCClientSecret,
		Scopes:                cfg.OIDCScopes,
		VTR:                   cfg.OIDCVTR,
		RedirectURL:           cfg.OIDCRedirectURL,
		PostLogoutRedirectURL: cfg.OIDCPostLogoutRedirectURL,
		UserAgent:             "email-alert (+" + cfg.PublicURL.String() + ")",
	})
	signIn := linking.NewService(db, store, emails, cfg.PublicURL, rp)
	perAddress := ratelimit.New(rdb, "address", cfg.RateLimitPerAddress).WithPrefix(namespace + ":")
	perClient := ratelimit.New(rdb, "client", cfg.RateLimitPerClient).WithPrefix(namespace + ":")
	var assets *frontend.Assets
	var pages *frontend.Pages
	if serves.frontend {
		if assets, err = frontend.NewAssets(templates.AssetFiles()); err != nil {
			return nil, err
		}
		pages, err = frontend.New(frontend.Config{
			SecureCookies: cfg.PublicURL.Scheme == "https",
			DevOutbox:     cfg.Local && cfg.EmailDelivery == "log",
			SignInFloor:   signInFloor,
			AccountURL:    cfg.OneLoginAccountURL,
		}, db, signIn, store, perAddress, perClient, templates.Pages, assets)
		if err != nil {
			return nil, err
		}
	}
	client := asynq.NewClientFromRedisClient(rdb)
	var queues []string
	for _, kind := range config.QueueKinds() {
		queues = append(queues, namespace+":"+kind)
	}
	m := metrics.New(asynq.NewInspectorFromRedisClient(rdb), queues, func(ctx context.Context) error { return rdb.Ping(ctx).Err() })
	inbox := events.NewInbox(db, client, namespace+":events")
	inbox.OnReceived(m.EventReceived)
	processor := events.NewProcessor(db, store)
	processor.OnProcessed(m.EventProcessed)
	deliverer := mail.NewDeliverer(db, sender)
	deliverer.OnAttempt(m.EmailAttempt)
	if l := cfg.EmailRateLimit; l != nil {
		deliverer.Limit(mail.NewRateLimit(rdb, namespace+":email-rate-limit", l.Count, l.Per))
	}
	dispatcher := mail.NewDispatcher(db, client, namespace+":email").
		Route(mail.High, namespace+":bulk-high").
		Route(mail.Normal, namespace+":bulk")
	var compress func(http.Handler) http.HandlerFunc
	if serves.api || serves.frontend {
		if compress, err = newCompressor(); err != nil {
			return nil, err
		}
	}
	alertService, err := newAlerts(cfg, db, client, emails, namespace)
	if err != nil {
		return nil, err
	}
	am := m.Alerts()
	alertService.Observe(alerts.Observer{
		ContentChangeReceived: am.ContentChangeReceived, EmailsGenerated: am.EmailsGenerated,
		FanOutFinished: am.FanOutFinished, DigestRun: am.DigestRun,
	})
	deliverer.ComposeWith(alerts.KindAlert, alertService.ComposeAlert)
	deliverer.ComposeWith(alerts.KindDigest, alertService.ComposeDigest)
	box, err := mailbox.New(db, store, client, namespace+":maintenance", emails)
	if err != nil {
		return nil, err
	}
	mm := m.Mailbox()
	box.Observe(mailbox.Observer{Callback: mm.Callback, Ended: mm.Ended, BulkBatch: mm.BulkBatch, BulkJob: mm.BulkJob})
	verifier := events.NewVerifier(cfg.AccountEventsIssuer, cfg.AccountEventsAud, cfg.AccountEventsJWKS,
		&http.Client{Timeout: 10 * time.Second})
	return &app{
		cfg:         cfg,
		db:          db,
		redis:       rdb,
		namespace:   namespace,
		asynq:       client,
		subscribers: subscribers.NewAPI(store),
		linking:     linking.NewAPI(signIn, perAddress),
		pages:       pages,
		assets:      assets,
		dispatcher:  dispatcher,
		deliverer:   deliverer,
		events:      events.NewAPI(inbox, verifier),
		inbox:       inbox,
		processor:   processor,
		alerts:      alertService,
		alertsAPI:   alerts.NewAPI(alertService),
		mailbox:     box,
		mailboxAPI:  mailbox.NewAPI(box),
		metrics:     m,
		queueUI:     &queueUI{redis: cfg.Redis},
		compress:    compress,
	}, nil
}

// newAlerts returns the alert jobs' service. client may be nil where
// nothing is enqueued (the digest command).
func newAlerts(cfg *config.Config, db *sqlx.DB, client *asynq.Client, emails *mail.Templates, namespace string) (*alerts.Service, error) {
	return alerts.New(db, client, alerts.Config{
		Queues: alerts.Queues{
			Normal: namespace + ":alerts", High: namespace + ":alerts_high", Maintenance: namespace + ":maintenance",
		},
		WebsiteRoot: cfg.GovukWebsiteRoot,
		DigestHour:  cfg.DigestHour, DigestMinute: cfg.DigestMinute,
	}, emails, magiclink.NewUnsubscribeLinks(db, cfg.PublicURL))
}

// signInFloor is the least time a sign-in request takes: well above the
// work it does, so every address gets its answer after the same time.
const signInFloor = 250 * time.Millisecond

func (a *app) close() {
	_ = a.asynq.Close()
	a.queueUI.close()
}

// queueUI serves asynqmon's read-only pages of the queues, built at their
// first request: asynqmon's router and its two Redis clients are not held
// by an api process (or a test) that nobody reads the queues through.
type queueUI struct {
	redis asynq.RedisConnOpt
	mu    sync.Mutex
	ui    *asynqmon.HTTPHandler
}

func (q *queueUI) ServeHTTP(w http.ResponseWriter, r *http.Request) { q.handler().ServeHTTP(w, r) }

func (q *queueUI) handler() *asynqmon.HTTPHandler {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.ui == nil {
		q.ui = asynqmon.New(asynqmon.Options{RootPath: "/admin/queues", RedisConnOpt: q.redis, ReadOnly: true})
	}
	return q.ui
}

// built reports whether the pages have been built, by a request.
func (q *queueUI) built() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.ui != nil
}

// close closes the Redis clients of the pages, if they were built.
func (q *queueUI) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.ui != nil {
		_ = q.ui.Close()
		q.ui = nil
	}
}

// newSender returns the email sender EMAIL_DELIVERY names.
func newSender(cfg *config.Config) (mail.Sender, error) {
	switch cfg.EmailDelivery {
	case "smtp":
		s, err := mail.NewSMTPSender(cfg.SMTPURL, cfg.EmailFrom, cfg.PublicURL.Hostname())
		if err != nil {
			return nil, fmt.Errorf("SMTP_URL: %w", err)
		}
		return s, nil
	case "notify":
		// Deliveries send side by side (mail.BatchSize per task): keep a
		// connection per send alive, not the default transport's two.
		base, ok := http.DefaultTransport.(*http.Transport)
		if !ok {
			return nil, errors.New("http.DefaultTransport is not an *http.Transport")
		}
		transport := base.Clone()
		transport.MaxIdleConns, transport.MaxIdleConnsPerHost = 512, 512
		s, err := mail.NewNotifySender(cfg.NotifyBaseURL, cfg.NotifyAPIKey, cfg.NotifyTemplateID,
			&http.Client{Timeout: 15 * time.Second, Transport: transport})
		if err != nil {
			return nil, fmt.Errorf("NOTIFY_API_KEY, NOTIFY_TEMPLATE_ID or NOTIFY_BASE_URL: %w", err)
		}
		return s, nil
	default:
		return mail.NewLogSender(cfg.Local), nil
	}
}

// openDB connects to PostgreSQL and checks the connection, so that a wrong
// DATABASE_URL stops the process at start.
func openDB(ctx context.Context, dsn string) (*sqlx.DB, error) {
	db, err := pgdb.Open(withConnectTimeout(dsn))
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	db.SetMaxOpenConns(40)
	db.SetMaxIdleConns(40)
	db.SetConnMaxIdleTime(5 * time.Minute)
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, fmt.Errorf("DATABASE_URL: cannot connect to PostgreSQL: %w", err)
	}
	return db, nil
}

// connectTimeout bounds each new connection to PostgreSQL where the caller
// sets no deadline (the worker's jobs): a server that does not answer is
// an error after it, not a hang.
const connectTimeout = "5"

// withConnectTimeout sets lib/pq's connect_timeout unless dsn sets it.
func withConnectTimeout(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" { // a key=value DSN
		if strings.Contains(dsn, "connect_timeout") {
			return dsn
		}
		return dsn + " connect_timeout=" + connectTimeout
	}
	q := u.Query()
	if !q.Has("connect_timeout") {
		q.Set("connect_timeout", connectTimeout)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// newRedisClient returns the client of the request paths (enqueueing, rate
// limits, health checks). For a plain redis:// URL it honours context
// deadlines on every socket read and write (ContextTimeoutEnabled), which
// asynq's own client does not: a Redis that hangs then costs a request its
// deadline, not the client's retries of 3-second reads.
func newRedisClient(opt asynq.RedisConnOpt) (redis.UniversalClient, error) {
	if o, ok := opt.(asynq.RedisClientOpt); ok {
		return redis.NewClient(&redis.Options{
			Network: o.Network, Addr: o.Addr, Username: o.Username, Password: o.Password, DB: o.DB,
			DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout,
			PoolSize: o.PoolSize, TLSConfig: o.TLSConfig, ContextTimeoutEnabled: true,
		}), nil
	}
	rdb, ok := opt.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, errors.New("REDIS_URL: unsupported Redis connection")
	}
	return rdb, nil
}

// newLogger logs text for people on a local setup and JSON elsewhere.
func newLogger(local bool, w io.Writer) *slog.Logger {
	if local {
		return slog.New(slog.NewTextHandler(w, nil))
	}
	return slog.New(slog.NewJSONHandler(w, nil))
}
