// Command precompress writes the gzip (.gz) and brotli (.br) variants of
// the static files that frontend.Assets serves compressed, next to each
// file: `go generate ./templates` runs it on templates/assets. Compressing
// at build time, at the highest levels, costs the service nothing at start
// and gives the smallest files; frontend.NewAssets checks at start that
// every variant decompresses to its file, so a stale one stops the build
// from serving.
//
//	go run ./internal/tools/precompress templates/assets
package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"

	"email-alert/frontend"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: precompress DIR")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "precompress:", err)
		os.Exit(1)
	}
}

// run rewrites the variants under dir, a folder of the repository's own
// (templates/assets) named by go:generate, never by a user: gosec's
// checks for paths from untrusted input do not apply.
//
//nolint:gosec // build-time tool over the repository's own files
func run(dir string) error {
	return filepath.WalkDir(dir, func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		for _, enc := range frontend.Encodings {
			if strings.HasSuffix(name, enc.Suffix) {
				return nil // rewritten, or removed, with its file
			}
		}
		body, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		for _, enc := range frontend.Encodings {
			variant := name + enc.Suffix
			if !frontend.Compressible(filepath.ToSlash(name), len(body)) {
				if err := os.Remove(variant); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return err
				}
				continue
			}
			compressed, err := compress(enc.Name, body)
			if err != nil {
				return fmt.Errorf("%s: %w", variant, err)
			}
			if err := os.WriteFile(variant, compressed, 0o644); err != nil {
				return err
			}
		}
		return nil
	})
}

// compress encodes body at the highest level of the encoding.
func compress(encoding string, body []byte) ([]byte, error) {
	var buf bytes.Buffer
	var w interface {
		Write([]byte) (int, error)
		Close() error
	}
	switch encoding {
	case "br":
		w = brotli.NewWriterLevel(&buf, brotli.BestCompression)
	case "gzip":
		gw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		if err != nil {
			return nil, err
		}
		w = gw
	default:
		return nil, fmt.Errorf("unknown encoding %q", encoding)
	}
	if _, err := w.Write(body); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
