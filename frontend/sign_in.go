package frontend

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"email-alert/linking"
	"email-alert/linking/magiclink"
	"email-alert/subscribers"
)

// homePath is where a sign-in lands when it was not on the way elsewhere.
const homePath = "/email/manage"

// AuthenticateForm handles GET /email/manage/authenticate?redirect_path=:
// sign in by email or with GOV.UK One Login, either way returning to
// redirect_path (a path on this site) afterwards.
func (p *Pages) AuthenticateForm(c *gin.Context) {
	p.render(c, http.StatusOK, "authenticate", signInPage(returnPath(c.Query("redirect_path"))))
}

// signInPage is the data of the sign-in page for a sign-in that returns to
// redirectPath ("" for homePath).
func signInPage(redirectPath string) map[string]any {
	account := "/email/manage/authenticate/account"
	if redirectPath != "" {
		account += "?" + url.Values{"redirect_path": {redirectPath}}.Encode()
	}
	return map[string]any{"RedirectPath": redirectPath, "AccountSignIn": account}
}

// Authenticate handles POST /email/manage/authenticate: whatever the
// address, the answer is "check your email", after the same minimum time.
func (p *Pages) Authenticate(c *gin.Context) {
	start := time.Now()
	redirectPath := returnPath(c.PostForm("redirect_path"))
	raw := c.PostForm("address")
	address, ok := subscribers.NormalizeAddress(raw)
	if !ok {
		data := signInPage(redirectPath)
		data["Address"], data["Error"], data["ErrorField"] = raw, p.addressProblem(c, raw), "address"
		p.render(c, http.StatusUnprocessableEntity, "authenticate", data)
		return
	}
	if !p.allow(c, address) {
		return
	}
	if err := p.magic.RequestManageLink(c.Request.Context(), address, redirectPath, p.lang(c)); err != nil {
		p.fail(c, err)
		return
	}
	time.Sleep(time.Until(start.Add(p.cfg.SignInFloor)))
	again := "/email/manage/authenticate"
	if redirectPath != "" {
		again += "?" + url.Values{"redirect_path": {redirectPath}}.Encode()
	}
	p.render(c, http.StatusOK, "check_email", map[string]any{
		"Address": address, "Again": again,
	})
}

// returnPath is raw when it is a path on this site other than homePath,
// else "": where a sign-in should return the person.
func returnPath(raw string) string {
	if raw == homePath || magiclink.CheckDestination(raw) != nil {
		return ""
	}
	return raw
}

// signInFirst sends someone who is not signed in to the sign-in page,
// which returns them to the page they asked for.
func signInFirst(c *gin.Context) {
	target := "/email/manage/authenticate"
	if back := returnPath(c.Request.URL.RequestURI()); back != "" {
		target += "?" + url.Values{"redirect_path": {back}}.Encode()
	}
	c.Redirect(http.StatusFound, target)
}

// ProcessSignIn handles GET /email/manage/authenticate/process?token=
// &redirect_path=: the link in the sign-in email, which opens a session
// and returns the person to redirect_path when it is a path on this site.
func (p *Pages) ProcessSignIn(c *gin.Context) {
	c.Header("Referrer-Policy", "no-referrer")
	personal(c)
	if !p.allowRedeem(c) {
		return
	}
	session, _, err := p.magic.RedeemSignIn(c.Request.Context(), c.Query("token"), p.lang(c))
	if errors.Is(err, magiclink.ErrTokenInvalid) {
		p.render(c, http.StatusGone, "expired", map[string]any{"Again": "/email/manage/authenticate"})
		return
	}
	if err != nil {
		p.fail(c, err)
		return
	}
	p.renewSession(c, session)
	next := homePath
	if back := returnPath(c.Query("redirect_path")); back != "" {
		next = back
	}
	c.Redirect(http.StatusSeeOther, next)
}

// allow applies the per-client and per-address limits on requests that
// send email, rendering the 429 page, which names the limit reached. The
// client is gin's ClientIP: the router believes the client-IP header only
// from a trusted proxy, and otherwise counts the connection's peer. A
// limiter that cannot be asked (Redis down or slow) fails closed with the
// 503 page: the limits are what stop brute force and email flooding.
func (p *Pages) allow(c *gin.Context, address string) bool {
	return p.within(c,
		limitCheck{p.perClient, c.ClientIP(), limitPerClient},
		limitCheck{p.perAddress, strings.ToLower(address), limitPerAddress})
}

// allowRedeem applies the per-client limit, with a budget of its own, to
// requests that redeem a token from an emailed link. Tokens are 256 bits,
// so this is defence in depth: guessing them cannot be done at speed.
func (p *Pages) allowRedeem(c *gin.Context) bool {
	return p.within(c, limitCheck{p.perClient, "redeem:" + c.ClientIP(), limitLinks})
}

// limit is one of the limits, as its 429 page names it: the message keys
// of what was counted, and of why the person must wait.
type limit struct {
	heading string
	message string // with {{.Wait}} for how long to wait
}

var (
	limitPerAddress = limit{heading: "limit.address", message: "limit.address_message"}
	limitPerClient  = limit{heading: "limit.client", message: "limit.client_message"}
	limitLinks      = limit{heading: "limit.links", message: "limit.links_message"}
)

// limitCheck is one limit to apply: a limiter, the key to count and what
// its 429 page says.
type limitCheck struct {
	limiter linking.Limiter
	key     string
	limit   limit
}

// within applies checks in order, rendering the 429 page of the first
// limit reached. A limiter that cannot be asked (Redis down or slow)
// fails closed with the 503 page: the limits are what stop brute force and
// email flooding.
func (p *Pages) within(c *gin.Context, checks ...limitCheck) bool {
	for _, check := range checks {
		ok, retryAfter, err := check.limiter.Allow(c.Request.Context(), check.key)
		if err != nil {
			slog.WarnContext(c.Request.Context(), "rate limiter unavailable: refusing the request", "error", err)
			p.unavailable(c)
			return false
		}
		if !ok {
			seconds := int(math.Ceil(retryAfter.Seconds()))
			c.Header("Retry-After", fmt.Sprint(seconds))
			p.render(c, http.StatusTooManyRequests, "too_many_requests", map[string]any{
				"Heading": p.t(c, check.limit.heading),
				"Message": p.t(c, check.limit.message, "Wait", p.waitText(c, retryAfter)),
			})
			return false
		}
	}
	return true
}

// waitText is how long the 429 page asks the person to wait: a minute, N
// minutes or an hour.
func (p *Pages) waitText(c *gin.Context, d time.Duration) string {
	switch minutes := int(math.Ceil(d.Minutes())); {
	case minutes <= 1:
		return p.t(c, "limit.a_minute")
	case minutes < 60:
		return p.locales.Lifetime(p.lang(c), time.Duration(minutes)*time.Minute)
	default:
		return p.t(c, "limit.an_hour")
	}
}

// addressProblem is the error message for an address that did not parse.
func (p *Pages) addressProblem(c *gin.Context, raw string) string {
	if strings.TrimSpace(raw) == "" {
		return p.t(c, "address.enter")
	}
	return p.t(c, "address.format")
}
