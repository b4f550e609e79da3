// Command email-alert runs the email-alert service. Each subcommand is one
// process of the deployment; all state lives in PostgreSQL and Redis, so the
// api, frontend and worker processes scale out separately.
//
//	email-alert migrate    apply the database migrations and exit
//	email-alert digest daily|weekly [--at RFC3339]
//	                       run (or resume) one digest run and exit
//	email-alert api        serve the JSON API on API_ADDR
//	email-alert frontend   serve the pages on FRONTEND_ADDR
//	email-alert worker     run the background jobs
//	email-alert all        api, frontend and worker in one process
//
// The service itself is built in package email-alert/internal/app.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"email-alert/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := app.Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "email-alert:", err)
		os.Exit(1)
	}
}
