package config

import (
	"bytes"
	"errors"
	"strings"
)

// The README's configuration table lies between these two lines.
const (
	tableStart = "<!-- configuration table: generated from internal/config/options.go by `go generate ./internal/config` -->\n"
	tableEnd   = "<!-- end of the configuration table -->\n"
)

// Table is the README's configuration table: one row per option, in the
// order Parse reads them.
func Table() string {
	var b strings.Builder
	b.WriteString("| name | default | secret | what it sets |\n|---|---|---|---|\n")
	for _, o := range options {
		secret := ""
		if o.secret {
			secret = "yes"
		}
		row := []string{"`" + o.name + "`", o.shownDefault(), secret, o.doc}
		for i, cell := range row {
			row[i] = strings.ReplaceAll(cell, "|", `\|`)
		}
		b.WriteString("| " + strings.Join(row, " | ") + " |\n")
	}
	return b.String()
}

// shownDefault is o's default as the README states it.
func (o *option) shownDefault() string {
	shown := o.shown
	switch {
	case shown != "":
	case o.fallback != "":
		shown = "`" + o.fallback + "`"
	default:
		shown = "empty"
	}
	if o.localOnly {
		shown += " (local only)"
	}
	return shown
}

// RewriteREADME returns readme with the configuration table between its
// markers replaced by Table().
func RewriteREADME(readme []byte) ([]byte, error) {
	before, rest, ok := bytes.Cut(readme, []byte(tableStart))
	if !ok {
		return nil, errors.New("README: no line " + strings.TrimSpace(tableStart))
	}
	_, after, ok := bytes.Cut(rest, []byte(tableEnd))
	if !ok {
		return nil, errors.New("README: no line " + strings.TrimSpace(tableEnd))
	}
	out := append([]byte{}, before...)
	out = append(out, tableStart...)
	out = append(out, Table()...)
	out = append(out, tableEnd...)
	return append(out, after...), nil
}
