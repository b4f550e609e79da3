// Package templates embeds the service's templates and static files:
// plain-text emails under email/, HTML pages under pages/, and assets/
// (GOV.UK Frontend). The binary carries them, so a deployment is one file
// and a Go build needs no Node.
package templates

// The compressed variants of the assets (see frontend.Encodings).
//go:generate go run ../internal/tools/precompress assets

import (
	"embed"
	"io/fs"
)

// Email holds the email templates, email/*.txt.
//
//go:embed email/*.txt
var Email embed.FS

// Pages holds the HTML page templates, pages/*.html.
//
//go:embed pages/*.html
var Pages embed.FS

// Assets holds the static files served under /assets/: the vendored
// govuk-frontend build (assets/govuk-frontend, see its VERSION) and ours.
//
//go:embed all:assets
var assets embed.FS

// AssetFiles is Assets rooted at assets/.
func AssetFiles() fs.FS {
	sub, _ := fs.Sub(assets, "assets") // "assets" is a constant, valid path
	return sub
}

// Locales holds the message catalogues, locales/<lang>.toml, one per
// language (see internal/lib/locale).
//
//go:embed locales/*.toml
var Locales embed.FS
