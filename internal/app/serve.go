package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/hibiken/asynq"

	"email-alert/alerts"
	"email-alert/events"
	"email-alert/internal/lib/redisloss"
	"email-alert/linking"
	"email-alert/mail"
	"email-alert/mailbox"
	"email-alert/subscribers"
)

// shutdownGrace is how long in-flight requests and jobs get after a signal.
const shutdownGrace = 20 * time.Second

// pollInterval is how often the worker looks for newly committed emails
// and account events, and so the most one waits before it is queued.
const pollInterval = 100 * time.Millisecond

// serve runs an HTTP server on addr until ctx is cancelled, then lets
// in-flight requests finish.
func serve(ctx context.Context, name, addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(slog.Default().Handler(), slog.LevelWarn),
	}
	slog.Info("listening", "server", name, "url", "http://"+ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("%s: %w", name, err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	slog.Info("shutting down", "server", name)
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s: shutdown: %w", name, err)
	}
	return nil
}

// work runs the asynq worker until ctx is cancelled, then waits for the
// running jobs (up to shutdownGrace) before returning.
func work(ctx context.Context, a *app) error {
	queues := map[string]int{}
	for kind, weight := range a.cfg.WorkerPriorities {
		queues[a.queue(kind)] = weight
	}
	srv := asynq.NewServer(a.cfg.Redis, asynq.Config{
		Concurrency:    a.cfg.WorkerConcurrency,
		Queues:         queues,
		StrictPriority: true,
		// A delivery that found the shared email rate limit empty is put
		// back for when it has a token, without using up a retry.
		IsFailure:      mail.IsFailure,
		RetryDelayFunc: mail.RetryDelay,
		// Rate-limited emails come back from the retry set this often.
		DelayedTaskCheckInterval: time.Second,
		ShutdownTimeout:          shutdownGrace,
		LogLevel:                 asynq.WarnLevel,
		// An idle worker looks for new tasks this often (asynq's default
		// is a second), so a sign-in email leaves within a fraction of it.
		TaskCheckInterval: pollInterval,
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc(events.TypeApply, a.processor.BatchTask)
	mux.Handle(events.TypeAccountEmailChanged, a.processor) // tasks queued one event each, before batches
	mux.Handle(events.TypeAccountDeleted, a.processor)
	mux.HandleFunc(events.TypeSweep, a.inbox.SweepHandler)
	mux.Handle(events.TypeForgetInactive, events.ForgetInactiveHandler(subscribers.NewStore(a.db, nil), a.cfg.AddressRetention))
	mux.Handle(mail.TypeDeliver, a.deliverer)
	mux.HandleFunc(mail.TypeSweep, a.dispatcher.SweepHandler)
	mux.HandleFunc(mail.TypePurge, a.dispatcher.PurgeHandler)
	mux.Handle(linking.TypePurge, linking.PurgeHandler(a.db))
	mux.Handle(alerts.TypeFanOut, a.alerts)
	mux.HandleFunc(alerts.TypeDigestRun, a.alerts.DigestRunHandler)
	mux.HandleFunc(alerts.TypeSweep, a.alerts.SweepHandler)
	mux.Handle(mailbox.TypeBulkUnsubscribe, a.mailbox)
	mux.HandleFunc(mailbox.TypeSweep, a.mailbox.SweepHandler)

	// Periodic tasks. Every worker schedules them; asynq.Unique keeps one
	// run per period however many workers there are.
	scheduler := asynq.NewScheduler(a.cfg.Redis, &asynq.SchedulerOpts{LogLevel: asynq.WarnLevel})
	for _, p := range []struct {
		spec, task string
		unique     time.Duration
	}{
		{"@every 1m", events.TypeSweep, 50 * time.Second},
		{"@every 1h", events.TypeForgetInactive, 50 * time.Minute},
		{"@every 1m", mail.TypeSweep, 50 * time.Second},
		{"@every 1h", mail.TypePurge, 50 * time.Minute},
		{"@every 1h", linking.TypePurge, 50 * time.Minute},
		{"@every 1m", alerts.TypeSweep, 50 * time.Second},
		{"@every 1m", mailbox.TypeSweep, 50 * time.Second},
	} {
		if _, err := scheduler.Register(p.spec, asynq.NewTask(p.task, nil), asynq.Queue(a.queue("maintenance")), asynq.Unique(p.unique)); err != nil {
			return fmt.Errorf("worker: schedule %s: %w", p.task, err)
		}
	}

	if err := srv.Start(mux); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	if err := scheduler.Start(); err != nil {
		srv.Shutdown()
		return fmt.Errorf("worker: scheduler: %w", err)
	}
	// Work stored while no worker ran, or that Redis lost, is queued again
	// now, and again whenever Redis is seen to lose its data: transactional
	// emails first, then events, then bulk emails. (The poller only reads
	// 'pending' emails, so emails a killed worker left 'sending' would
	// otherwise wait for the minute sweep.)
	watcher := redisloss.New(a.redis, a.namespace+":redis-epoch")
	watcher.Add("transactional emails", a.dispatcher.SweepOf(mail.Transactional))
	watcher.Add("account events", a.inbox.Sweep)
	watcher.Add("bulk emails", a.dispatcher.SweepOf(mail.High, mail.Normal))
	if _, err := watcher.Check(ctx); err != nil {
		slog.Warn("redis check", "error", err)
	}
	watcher.Add("content changes and digest runs", func(ctx context.Context, olderThan time.Duration, limit int) (int, error) {
		return a.alerts.Sweep(ctx, time.Now(), olderThan)
	})
	watcher.Add("bulk unsubscribes", a.mailbox.Sweep)
	watcher.Recover(ctx)
	go watcher.Watch(ctx)
	pollDone := make(chan error, 1)
	go func() { pollDone <- a.dispatcher.Poll(ctx, pollInterval) }()
	go a.inbox.Poll(ctx, pollInterval)
	slog.Info("worker started", "queues", queues, "concurrency", a.cfg.WorkerConcurrency)

	var err error
	select {
	case <-ctx.Done():
	case err = <-pollDone:
		err = fmt.Errorf("worker: %w", err)
	}
	slog.Info("shutting down", "server", "worker")
	scheduler.Shutdown()
	srv.Shutdown()
	return err
}
