package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/hibiken/asynq"

	"email-alert/linking"
	"email-alert/mail"
)

// shutdownGrace is how long in-flight requests and jobs get after a signal.
const shutdownGrace = 20 * time.Second

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
	srv := asynq.NewServer(a.cfg.Redis, asynq.Config{
		Concurrency:     10,
		Queues:          map[string]int{a.queue: 1},
		ShutdownTimeout: shutdownGrace,
		LogLevel:        asynq.WarnLevel,
	})
	mux := asynq.NewServeMux()
	mux.Handle(mail.TypeDeliver, a.deliverer)
	mux.HandleFunc(mail.TypeSweep, a.dispatcher.SweepHandler)
	mux.HandleFunc(mail.TypePurge, a.dispatcher.PurgeHandler)
	mux.Handle(linking.TypePurge, linking.PurgeHandler(a.db))

	// Periodic tasks. Every worker schedules them; asynq.Unique keeps one
	// run per period however many workers there are.
	scheduler := asynq.NewScheduler(a.cfg.Redis, &asynq.SchedulerOpts{LogLevel: asynq.WarnLevel})
	for _, p := range []struct {
		spec, task string
		unique     time.Duration
	}{
		{"@every 1m", mail.TypeSweep, 50 * time.Second},
		{"@every 1h", mail.TypePurge, 50 * time.Minute},
		{"@every 1h", linking.TypePurge, 50 * time.Minute},
	} {
		if _, err := scheduler.Register(p.spec, asynq.NewTask(p.task, nil), asynq.Queue(a.queue), asynq.Unique(p.unique)); err != nil {
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
	listenDone := make(chan error, 1)
	go func() { listenDone <- a.dispatcher.Listen(ctx) }()
	slog.Info("worker started", "queue", a.queue)

	var err error
	select {
	case <-ctx.Done():
	case err = <-listenDone:
		err = fmt.Errorf("worker: %w", err)
	}
	slog.Info("shutting down", "server", "worker")
	scheduler.Shutdown()
	srv.Shutdown()
	return err
}
