package app

import (
	"flag"
	"io"
	"log/slog"
	"os"
	"testing"

	"email-alert/internal/testkit/testrig/proc"
)

// TestMain keeps the request log out of test output (run with -v to see
// it), and removes the binary the rig built for the run.
func TestMain(m *testing.M) {
	flag.Parse()
	if !testing.Verbose() {
		slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	}
	os.Exit(proc.RunTests(m))
}
