package frontend

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"
)

// signInCookie binds a One Login sign-in to the browser that started it.
const signInCookie = "email_alert_sign_in"

// StartAccountSignIn handles GET /email/manage/authenticate/account
// ?redirect_path=&mfa=: it sends the browser to One Login.
func (p *Pages) StartAccountSignIn(c *gin.Context) {
	p.startSignIn(c, c.Query("redirect_path"), c.Query("mfa") != "false")
}

// startSignIn sends the browser to One Login, which returns it to
// redirectPath once signed in (/email/manage when that is not a path on
// this site).
func (p *Pages) startSignIn(c *gin.Context, redirectPath string, mfa bool) {
	personal(c)
	authURL, browser, err := p.linking.StartSignIn(c.Request.Context(), redirectPath, mfa, p.lang(c))
	if err != nil {
		p.signInProblem(c, err)
		return
	}
	http.SetCookie(c.Writer, &http.Cookie{ //nolint:gosec // Secure whenever PUBLIC_URL is https
		Name: signInCookie, Value: browser, Path: "/sign-in", MaxAge: 15 * 60,
		HttpOnly: true, Secure: p.cfg.SecureCookies, SameSite: http.SameSiteLaxMode,
	})
	status := http.StatusFound
	if c.Request.Method == http.MethodPost {
		status = http.StatusSeeOther // the provider is asked with GET
	}
	c.Redirect(status, authURL)
}

// SignInCallback handles GET /sign-in/callback: One Login sends the browser
// back here with a code (or an error).
func (p *Pages) SignInCallback(c *gin.Context) {
	personal(c)
	c.Header("Referrer-Policy", "no-referrer")
	browser, _ := c.Cookie(signInCookie)
	http.SetCookie(c.Writer, &http.Cookie{Name: signInCookie, Path: "/sign-in", MaxAge: -1, HttpOnly: true, Secure: p.cfg.SecureCookies, SameSite: http.SameSiteLaxMode}) //nolint:gosec // as above
	if e := c.Query("error"); e != "" {
		p.signInProblem(c, errors.New("provider answered "+e+": "+c.Query("error_description")))
		return
	}
	signedIn, err := p.linking.FinishSignIn(c.Request.Context(), c.Query("state"), c.Query("code"), browser, p.lang(c))
	if err != nil {
		p.signInProblem(c, err)
		return
	}
	p.renewSession(c, signedIn.Session)
	c.Redirect(http.StatusSeeOther, signedIn.RedirectPath)
}

// signInProblem logs why a sign-in failed and shows the one page people
// see for all of them.
func (p *Pages) signInProblem(c *gin.Context, err error) {
	slog.WarnContext(c.Request.Context(), "sign-in failed", "error", err)
	p.render(c, http.StatusBadRequest, "error", map[string]any{
		"Heading": p.t(c, "error.sign_in"),
		"Message": p.t(c, "error.sign_in_message"),
	})
}

// SignOut handles GET /sign-out: it ends our session, then sends an
// account session on to One Login's end-session endpoint.
func (p *Pages) SignOut(c *gin.Context) {
	personal(c)
	next, err := p.linking.SignOut(c.Request.Context(), sessionToken(c))
	if err != nil {
		slog.WarnContext(c.Request.Context(), "sign-out", "error", err)
		next = "/signed-out"
	}
	p.setSession(c, "")
	c.Redirect(http.StatusFound, next)
}

// SignedOut handles GET /signed-out, where One Login returns the browser
// with the sign-out state in the URL: kept from any Referer. It offers the
// next steps: sign in again, or GOV.UK's home page.
func (p *Pages) SignedOut(c *gin.Context) {
	c.Header("Referrer-Policy", "no-referrer")
	p.render(c, http.StatusOK, "signed_out", map[string]any{})
}

// BackchannelLogout handles POST /sign-in/backchannel-logout: One Login
// tells us, server to server, that an account signed out everywhere.
func (p *Pages) BackchannelLogout(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	if err := p.linking.BackchannelLogout(c.Request.Context(), c.PostForm("logout_token")); err != nil {
		slog.WarnContext(c.Request.Context(), "back-channel logout refused", "error", err)
		c.Status(http.StatusBadRequest)
		return
	}
	c.Status(http.StatusOK)
}
