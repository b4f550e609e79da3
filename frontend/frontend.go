// Package frontend serves the pages where people manage their email
// subscriptions (the email-alert-frontend routes). Handlers parse and
// validate the request, call the domain packages, and redirect or render;
// they hold no state of their own.
package frontend

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"

	"email-alert/internal/lib/locale"
	"email-alert/internal/lib/outage"
	"email-alert/linking"
	"email-alert/linking/magiclink"
	"email-alert/linking/session"
	"email-alert/subscribers"
	"email-alert/templates"
)

// SessionCookie holds the session token (the API's govuk_account_session).
const SessionCookie = "email_alert_session"

// The GOV.UK Account headers, by which GOV.UK's CDN carries the session
// instead of the cookie.
const (
	headerSession    = "GOVUK-Account-Session"
	headerEndSession = "GOVUK-Account-End-Session"
)

// Keys of what a request learns about its session, kept in the gin context
// so that a page looks its session up once.
const (
	sessionKey  = "frontend.session"   // a sessionLookup
	signedInKey = "frontend.signed-in" // a bool: the handler set or ended the session
)

// sessionLookup is the outcome of looking the request's session up.
type sessionLookup struct {
	session session.Session
	ok      bool
}

// Config is what the pages need besides the domain services.
type Config struct {
	// SecureCookies marks cookies Secure (PUBLIC_URL is https).
	SecureCookies bool
	// DevOutbox serves /dev/outbox, listing the emails written locally.
	DevOutbox bool
	// SignInFloor is the least time a sign-in request takes to answer,
	// so known, linked and unknown addresses cannot be told apart by timing.
	SignInFloor time.Duration
	// AccountURL is the GOV.UK One Login account page, where account users
	// change their email (ONE_LOGIN_ACCOUNT_URL).
	AccountURL string
}

// Pages serves the HTML pages.
type Pages struct {
	cfg        Config
	db         *sqlx.DB
	linking    *linking.Service
	magic      *magiclink.Service
	sessions   *session.Store
	subs       *subscribers.Store
	perAddress linking.Limiter
	perClient  linking.Limiter
	locales    *locale.Catalogue
	views      map[string]map[string]*template.Template // by language, then page
}

// New parses every page template in fsys (templates.Pages) once for each
// language, with the message catalogues (templates.Locales), failing on a
// bad one, and returns the handlers.
func New(cfg Config, db *sqlx.DB, l *linking.Service, subs *subscribers.Store, perAddress, perClient linking.Limiter, fsys fs.FS, assets *Assets) (*Pages, error) {
	locales, err := locale.Parse(templates.Locales)
	if err != nil {
		return nil, err
	}
	views := map[string]map[string]*template.Template{}
	for _, lang := range locale.Languages {
		if views[lang], err = parsePages(fsys, assets, locales.Funcs(lang)); err != nil {
			return nil, fmt.Errorf("%s: %w", lang, err)
		}
	}
	return &Pages{cfg: cfg, db: db, linking: l, magic: l.MagicLinks, sessions: l.Sessions, subs: subs, perAddress: perAddress, perClient: perClient, locales: locales, views: views}, nil
}

// parsePages parses every page in fsys with funcs, the words of one
// language.
func parsePages(fsys fs.FS, assets *Assets, funcs map[string]any) (map[string]*template.Template, error) {
	layout, err := template.New("layout.html").Funcs(funcs).Funcs(assets.FuncMap()).ParseFS(fsys, "pages/layout.html")
	if err != nil {
		return nil, fmt.Errorf("page templates: %w", err)
	}
	names, err := fs.Glob(fsys, "pages/*.html")
	if err != nil {
		return nil, fmt.Errorf("page templates: %w", err)
	}
	views := map[string]*template.Template{}
	for _, name := range names {
		if name == "pages/layout.html" {
			continue
		}
		view, err := template.Must(layout.Clone()).ParseFS(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("page templates: %w", err)
		}
		// Render each page once now, so a template that cannot render
		// (an unknown asset, say) stops the start, not a request.
		if err := view.ExecuteTemplate(io.Discard, "layout", map[string]any{}); err != nil {
			return nil, fmt.Errorf("page templates: %s: %w", name, err)
		}
		views[strings.TrimSuffix(strings.TrimPrefix(name, "pages/"), ".html")] = view
	}
	return views, nil
}

// render writes the page name with status. Rendering goes to a buffer
// first, so a template error becomes a clean 500 rather than half a page.
// Every page learns whether someone is signed in (for the header's
// sign-out link) as .SignedIn, and the One Login account page as
// .AccountURL, and is in the request's language (.Lang, see Language),
// with a link to itself in the other one (.LanguageLink).
func (p *Pages) render(c *gin.Context, status int, name string, data map[string]any) {
	data["SignedIn"] = p.signedIn(c)
	data["AccountURL"] = p.cfg.AccountURL
	p.inLanguage(c, data)
	view, ok := p.views[p.lang(c)][name]
	if !ok {
		p.fail(c, fmt.Errorf("no page template %q", name))
		return
	}
	var buf bytes.Buffer
	if err := view.ExecuteTemplate(&buf, "layout", data); err != nil {
		p.fail(c, fmt.Errorf("render %s: %w", name, err))
		return
	}
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

// fail logs err and shows the error page, which says nothing about it:
// 503 with Retry-After when PostgreSQL or Redis is unreachable or
// restarting (outage.Is), 499 logged at INFO when the client has gone
// (outage.ClientGone), else 500.
func (p *Pages) fail(c *gin.Context, err error) {
	if outage.ClientGone(c.Request.Context()) {
		slog.InfoContext(c.Request.Context(), "page cancelled by the client", "path", c.Request.URL.Path, "error", err)
		c.AbortWithStatus(outage.StatusClientClosedRequest)
		return
	}
	if outage.Is(err) {
		slog.WarnContext(c.Request.Context(), "page failed: service unavailable", "path", c.Request.URL.Path, "error", err)
		p.unavailable(c)
		return
	}
	slog.ErrorContext(c.Request.Context(), "page failed", "path", c.Request.URL.Path, "error", err)
	p.errorPage(c, http.StatusInternalServerError)
}

// unavailable answers 503 with Retry-After and the error page.
func (p *Pages) unavailable(c *gin.Context) {
	c.Header("Retry-After", outage.RetryAfter)
	p.errorPage(c, http.StatusServiceUnavailable)
}

// errorPage shows the GOV.UK "problem with the service" page with status.
func (p *Pages) errorPage(c *gin.Context, status int) {
	lang := p.lang(c)
	if view := p.views[lang]["error"]; view != nil && !c.Writer.Written() {
		var buf bytes.Buffer
		data := map[string]any{"Heading": p.t(c, "error.service"), "Message": p.t(c, "error.try_later")}
		p.inLanguage(c, data)
		if view.ExecuteTemplate(&buf, "layout", data) == nil {
			c.Data(status, "text/html; charset=utf-8", buf.Bytes())
			return
		}
	}
	c.String(status, p.t(c, "error.service"))
}

// contentSecurityPolicy allows nothing inline and nothing from elsewhere:
// scripts, styles, fonts and images come from /assets/, forms post here
// (and to the origins SecurityHeaders is given), and no site may frame the
// pages.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'%s; frame-ancestors 'none'"

// SecurityHeaders returns the middleware that sets the headers every page
// carries. formOrigins are the other origins a form may lead to: browsers
// apply form-action to the redirects that follow a post too, and "Sign in
// with GOV.UK One Login instead" posts here to be redirected to One Login.
// Pages that hold a token in their URL tighten Referrer-Policy to
// no-referrer themselves.
func SecurityHeaders(formOrigins ...string) gin.HandlerFunc {
	extra := ""
	for _, origin := range formOrigins {
		if origin != "" {
			extra += " " + origin
		}
	}
	policy := fmt.Sprintf(contentSecurityPolicy, extra)
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Set("Content-Security-Policy", policy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
	}
}

// NotFound is the page for unknown paths and for anything that is not the
// signed-in person's.
func (p *Pages) NotFound(c *gin.Context) {
	p.render(c, http.StatusNotFound, "error", map[string]any{
		"Heading": p.t(c, "error.not_found"),
		"Message": p.t(c, "error.not_found_message"),
	})
}

// Forbidden is the page for a form posted from another site.
func (p *Pages) Forbidden(c *gin.Context) {
	p.render(c, http.StatusForbidden, "error", map[string]any{
		"Heading": p.t(c, "error.request"),
		"Message": p.t(c, "error.cross_site"),
	})
}

// personal marks a response as belonging to one person: never cached,
// and varying with the session header where a CDN carries it (added to
// the Vary the compression sets, not in place of it).
func personal(c *gin.Context) {
	c.Header("Cache-Control", "private, no-store")
	varyOnSession(c)
}

// varyOnSession says that the response depends on the session header: every
// page does, by its header's sign-out link.
func varyOnSession(c *gin.Context) {
	h := c.Writer.Header()
	for _, v := range h.Values("Vary") {
		if strings.Contains(v, headerSession) {
			return
		}
	}
	h.Add("Vary", headerSession)
}

// sessionToken returns the session token the request carries: in the
// GOVUK-Account-Session header ("<token>[$$flash,keys]") behind GOV.UK's
// CDN, else in the cookie.
func sessionToken(c *gin.Context) string {
	if h := c.GetHeader(headerSession); h != "" {
		token, _, _ := strings.Cut(h, "$$")
		return token
	}
	token, _ := c.Cookie(SessionCookie)
	return token
}

// signedIn reports whether the request has a session that is valid now,
// for the header's sign-out link: a cookie or header alone is not enough,
// since the session it names may have ended (signed out elsewhere, by a
// back-channel logout, expired). A dead one is cleared, so the browser
// stops sending it. A lookup that fails shows the page as signed out.
func (p *Pages) signedIn(c *gin.Context) bool {
	varyOnSession(c)
	if set, ok := c.Get(signedInKey); ok {
		signedIn, _ := set.(bool)
		return signedIn
	}
	_, ok, err := p.session(c)
	if err != nil {
		slog.WarnContext(c.Request.Context(), "session lookup for the header", "error", err)
		return false
	}
	if !ok && sessionToken(c) != "" {
		p.setSession(c, "")
	}
	return ok
}

// setSession sets the session, as a cookie and in the GOV.UK Account
// header; an empty token ends it.
func (p *Pages) setSession(c *gin.Context, token string) {
	c.Set(signedInKey, token != "")
	maxAge := int(session.TTL.Seconds())
	if token == "" {
		maxAge = -1
		c.Header(headerEndSession, "1")
	} else {
		c.Header(headerSession, token)
	}
	//nolint:gosec // Secure is set whenever PUBLIC_URL is https; a local http setup cannot use it
	http.SetCookie(c.Writer, &http.Cookie{
		Name: SessionCookie, Value: token, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: p.cfg.SecureCookies, SameSite: http.SameSiteLaxMode,
	})
}

// session returns the signed-in person's session, if any, looking it up
// once per request. A lookup that failed (PostgreSQL down) is an error, for
// the caller to answer with p.fail, rather than "not signed in", which
// would send a signed-in person to sign in again.
func (p *Pages) session(c *gin.Context) (session.Session, bool, error) {
	if v, ok := c.Get(sessionKey); ok {
		if found, ok := v.(sessionLookup); ok {
			return found.session, found.ok, nil
		}
	}
	token := sessionToken(c)
	if token == "" {
		return session.Session{}, false, nil
	}
	s, err := p.sessions.Get(c.Request.Context(), token)
	switch {
	case errors.Is(err, session.ErrNoSession):
		c.Set(sessionKey, sessionLookup{})
		return session.Session{}, false, nil
	case err != nil:
		return session.Session{}, false, fmt.Errorf("session lookup: %w", err)
	}
	c.Set(sessionKey, sessionLookup{session: s, ok: true})
	return s, true, nil
}

// renewSession ends the session the browser had, if any, and sets the new
// one: a fresh token at every sign-in, so a planted cookie is worthless.
func (p *Pages) renewSession(c *gin.Context, token string) {
	if old := sessionToken(c); old != "" {
		if err := p.sessions.End(c.Request.Context(), old); err != nil {
			slog.WarnContext(c.Request.Context(), "ending the previous session", "error", err)
		}
	}
	p.setSession(c, token)
}
