// Command vulndb refreshes the project's copy of the Go vulnerability
// database, which `make vulncheck` gives govulncheck because this machine
// cannot reach vuln.go.dev. It copies, from a checkout of
// github.com/golang/vulndb, the OSV entries (data/osv/*.json) that concern
// the standard library, the Go toolchain or a module in this project's
// build list (`go list -m all`), and writes them to internal/tools/vulndb/osv
// with the checkout's newest commit and its date in internal/tools/vulndb/SNAPSHOT
// (-commit names them when the copy has no git history).
//
//	go run ./internal/tools/vulndb -from ~/src/vulndb
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

func main() {
	from := flag.String("from", "", "a checkout of github.com/golang/vulndb")
	out := flag.String("out", "internal/tools/vulndb/osv", "where to write the entries")
	commit := flag.String("commit", "", "the checkout's commit and date, when it has no git history")
	flag.Parse()
	if err := run(*from, *out, *commit); err != nil {
		fmt.Fprintln(os.Stderr, "vulndb:", err)
		os.Exit(1)
	}
}

func run(from, out, commit string) error {
	if from == "" {
		return errors.New("-from: the path of a golang/vulndb checkout is required")
	}
	modules, err := buildList()
	if err != nil {
		return err
	}
	modules["stdlib"], modules["toolchain"] = true, true

	entries, err := filepath.Glob(filepath.Join(from, "data", "osv", "*.json"))
	if err != nil || len(entries) == 0 {
		return fmt.Errorf("no OSV entries in %s/data/osv", from)
	}
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	kept := 0
	for _, path := range entries {
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var entry struct {
			Affected []struct {
				Package struct {
					Name string `json:"name"`
				} `json:"package"`
			} `json:"affected"`
		}
		if err := json.Unmarshal(data, &entry); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		for _, a := range entry.Affected {
			if modules[a.Package.Name] {
				if err := os.WriteFile(filepath.Join(out, filepath.Base(path)), data, 0o644); err != nil {
					return err
				}
				kept++
				break
			}
		}
	}
	if commit == "" {
		head, err := exec.Command("git", "-C", from, "log", "-1", "--format=%H %cI").Output()
		if err != nil {
			return fmt.Errorf("the checkout's commit (or -commit): %w", err)
		}
		commit = strings.TrimSpace(string(head))
	}
	snapshot := fmt.Sprintf("golang/vulndb %s\n%d of %d entries (stdlib, toolchain and this build list)\n",
		commit, kept, len(entries))
	if err := os.WriteFile(filepath.Join(filepath.Dir(out), "SNAPSHOT"), []byte(snapshot), 0o644); err != nil {
		return err
	}
	fmt.Print(snapshot)
	return nil
}

// buildList returns the module paths of this project's build list.
func buildList() (map[string]bool, error) {
	list, err := exec.Command("go", "list", "-m", "-f", "{{.Path}}", "all").Output()
	if err != nil {
		return nil, fmt.Errorf("go list -m all: %w", err)
	}
	modules := map[string]bool{}
	for _, m := range strings.Fields(string(list)) {
		modules[m] = true
	}
	return modules, nil
}
