// Package templates embeds the service's templates: plain-text emails
// under email/ and HTML pages under pages/. The binary carries them, so a
// deployment is one file.
package templates

import "embed"

// Email holds the email templates, email/*.txt.
//
//go:embed email/*.txt
var Email embed.FS

// Pages holds the HTML page templates, pages/*.html.
//
//go:embed pages/*.html
var Pages embed.FS
