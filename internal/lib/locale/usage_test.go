package locale_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// keyUse finds message keys where the code names them: {{t "key"}} and
// {{tn "key"}} in templates, and any quoted string in Go that looks like a
// key (the keys the code passes to T, held in variables, included).
var (
	templateKey = regexp.MustCompile(`\{\{-?\s*(?:t|tn)\s+"([a-z0-9_.]+)"|\((?:t|tn)\s+"([a-z0-9_.]+)"`)
	goKey       = regexp.MustCompile(`"([a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+)"`)
)

// TestCatalogueKeysUsed: every key a template calls is in the catalogues,
// and every key of the catalogues is used somewhere.
func TestCatalogueKeysUsed(t *testing.T) {
	c := catalogue(t)
	known := map[string]bool{}
	for _, k := range c.Keys() {
		known[k] = true
	}
	used := map[string]bool{}
	root := filepath.Join("..", "..", "..")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == "assets" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		ext := filepath.Ext(path)
		if ext != ".html" && ext != ".txt" && (ext != ".go" || strings.HasSuffix(path, "_test.go")) {
			return nil
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if ext == ".go" {
			for _, m := range goKey.FindAllStringSubmatch(string(raw), -1) {
				used[m[1]] = true
			}
			return nil
		}
		for _, m := range templateKey.FindAllStringSubmatch(string(raw), -1) {
			key := m[1] + m[2]
			used[key] = true
			if !known[key] {
				t.Errorf("%s calls %q, which is in no catalogue", path, key)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for key := range known {
		if !used[key] {
			t.Errorf("catalogue key %q is used nowhere", key)
		}
	}
}
