package frontend

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"email-alert/internal/lib/locale"
)

// LanguageCookie holds the page language the person chose with the
// header's language link: en or cy.
const LanguageCookie = "lang"

// langKey holds the request's page language in the gin context.
const langKey = "frontend.lang"

// Language picks the language of the request's page: ?lang= (en or cy,
// the header's language link) chooses it and sets the lang cookie; else
// the cookie; else the best of English and Welsh in Accept-Language.
// Anything else in ?lang= or the cookie is ignored. It redirects nowhere:
// the page is served where it was asked for, with its other query
// parameters as they were.
func (p *Pages) Language(c *gin.Context) {
	if chosen := c.Query("lang"); locale.Valid(chosen) {
		//nolint:gosec // Secure whenever PUBLIC_URL is https; HttpOnly: no script reads it
		http.SetCookie(c.Writer, &http.Cookie{
			Name: LanguageCookie, Value: chosen, Path: "/", MaxAge: 365 * 24 * 60 * 60,
			HttpOnly: true, Secure: p.cfg.SecureCookies, SameSite: http.SameSiteLaxMode,
		})
		c.Set(langKey, chosen)
	}
	c.Next()
}

// lang is the request's page language (see Language).
func (p *Pages) lang(c *gin.Context) string {
	if lang := c.GetString(langKey); lang != "" {
		return lang
	}
	lang := locale.Match(c.GetHeader("Accept-Language"))
	if chosen, err := c.Cookie(LanguageCookie); err == nil && locale.Valid(chosen) {
		lang = chosen
	}
	c.Set(langKey, lang)
	return lang
}

// t is the message key in the request's language.
func (p *Pages) t(c *gin.Context, key string, args ...any) string {
	return p.locales.T(p.lang(c), key, args...)
}

// inLanguage adds to a page's data its language (.Lang, for <html lang>)
// and the link to the same page in the other language (.LanguageLink):
// only a query, "?…&lang=cy", so it stays on this path whatever the path
// is (no "//host" can turn it into a link to another site), with every
// other parameter kept but a redirect_path that is not a path on this site.
// The page depends on Accept-Language and the
// cookie, so caches must keep them apart.
func (p *Pages) inLanguage(c *gin.Context, data map[string]any) {
	lang := p.lang(c)
	other := locale.Welsh
	if lang == locale.Welsh {
		other = locale.English
	}
	q := c.Request.URL.Query()
	q.Set("lang", other)
	if q.Has("redirect_path") && returnPath(q.Get("redirect_path")) == "" {
		q.Del("redirect_path") // ignored by the page too: never echo an off-site one
	}
	data["Lang"], data["LanguageLink"] = lang, "?"+q.Encode()
	h := c.Writer.Header()
	for _, v := range h.Values("Vary") {
		if strings.Contains(v, "Accept-Language") {
			return
		}
	}
	h.Add("Vary", "Accept-Language, Cookie")
}
