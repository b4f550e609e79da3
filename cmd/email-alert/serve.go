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
		ShutdownTimeout: shutdownGrace,
		LogLevel:        asynq.WarnLevel,
	})
	// Task handlers are registered here as the capabilities that need
	// background work arrive.
	mux := asynq.NewServeMux()
	if err := srv.Start(mux); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	slog.Info("worker started")
	<-ctx.Done()
	slog.Info("shutting down", "server", "worker")
	srv.Shutdown()
	return nil
}
