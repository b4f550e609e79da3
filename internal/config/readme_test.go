package config

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestREADMEConfigurationTable: the README's table is the options table,
// so a variable cannot be added, renamed or given another default without
// the README saying so.
func TestREADMEConfigurationTable(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	want, err := RewriteREADME(readme)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(readme)); diff != "" {
		t.Errorf("README.md's configuration table is not the options table; run `go generate ./internal/config` (-want +got):\n%s", diff)
	}
}
