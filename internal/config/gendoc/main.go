// Command gendoc rewrites the configuration table of the README from the
// options table of internal/config: `go generate ./internal/config`.
package main

import (
	"flag"
	"fmt"
	"os"

	"email-alert/internal/config"
)

func main() {
	readme := flag.String("readme", "README.md", "the README to rewrite")
	flag.Parse()
	if err := rewrite(*readme); err != nil {
		fmt.Fprintln(os.Stderr, "gendoc:", err)
		os.Exit(1)
	}
}

func rewrite(path string) error {
	in, err := os.ReadFile(path) //nolint:gosec // the README named by go:generate, never by a user
	if err != nil {
		return err
	}
	out, err := config.RewriteREADME(in)
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, 0o644) //nolint:gosec // a checked-in document, world-readable like the rest
}
