package devoidc

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
)

//go:embed templates/*.html
var templateFS embed.FS

// pageNames are the pages every provider must be able to render; New fails
// if one is missing.
var pageNames = []string{"authorize", "error", "home", "signed-out", "backchannel", "event"}

// parsePages parses every page template at start.
func parsePages() (*template.Template, error) {
	t, err := template.ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, name := range pageNames {
		if t.Lookup(name) == nil {
			return nil, fmt.Errorf("missing template %q", name)
		}
	}
	return t, nil
}

// basePage is what every page shows besides its own content.
type basePage struct {
	Issuer string
}

func (p *Provider) basePage() basePage { return basePage{Issuer: p.cfg.Issuer} }

// errorPage is the data of the error page.
type errorPage struct {
	basePage
	Title   string
	Message string
}

func (p *Provider) renderError(w http.ResponseWriter, status int, title, message string) {
	p.render(w, status, "error", errorPage{basePage: p.basePage(), Title: title, Message: message})
}

// render writes the named page. The policy makes "no JavaScript" a rule
// the browser enforces, not just a habit of the templates.
func (p *Provider) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := p.pages.ExecuteTemplate(&buf, name, data); err != nil {
		slog.Error("dev-oidc: render page", "page", name, "error", err)
		http.Error(w, "cannot render page", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
