package frontend

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"email-alert/linking"
	"email-alert/subscribers"
)

// AuthenticateForm handles GET /email/manage/authenticate.
func (p *Pages) AuthenticateForm(c *gin.Context) {
	p.render(c, http.StatusOK, "authenticate", map[string]any{})
}

// Authenticate handles POST /email/manage/authenticate: whatever the
// address, the answer is "check your email", after the same minimum time.
func (p *Pages) Authenticate(c *gin.Context) {
	start := time.Now()
	raw := c.PostForm("address")
	address, ok := subscribers.NormalizeAddress(raw)
	if !ok {
		message := addressProblem(raw)
		p.render(c, http.StatusUnprocessableEntity, "authenticate", map[string]any{"Address": raw, "Error": message, "ErrorField": "address"})
		return
	}
	if !p.allow(c, address) {
		return
	}
	if err := p.linking.RequestManageLink(c.Request.Context(), address); err != nil {
		p.fail(c, err)
		return
	}
	time.Sleep(time.Until(start.Add(p.cfg.SignInFloor)))
	p.render(c, http.StatusOK, "check_email", map[string]any{
		"Address": address, "Purpose": "with a link to manage your subscriptions",
		"Again": "/email/manage/authenticate",
	})
}

// ProcessSignIn handles GET /email/manage/authenticate/process?token=.
func (p *Pages) ProcessSignIn(c *gin.Context) {
	c.Header("Referrer-Policy", "no-referrer")
	personal(c)
	session, _, err := p.linking.RedeemSignIn(c.Request.Context(), c.Query("token"))
	if errors.Is(err, linking.ErrTokenInvalid) {
		p.render(c, http.StatusGone, "expired", map[string]any{"Again": "/email/manage/authenticate"})
		return
	}
	if err != nil {
		p.fail(c, err)
		return
	}
	p.renewSession(c, session)
	c.Redirect(http.StatusSeeOther, "/email/manage")
}

// allow applies the per-client and per-address limits on requests that
// send email, rendering the 429 page when one is reached. A limiter that
// cannot be asked (Redis down) lets the request through.
func (p *Pages) allow(c *gin.Context, address string) bool {
	for _, check := range []struct {
		limiter linking.Limiter
		key     string
	}{{p.perClient, c.ClientIP()}, {p.perAddress, strings.ToLower(address)}} {
		ok, retryAfter, err := check.limiter.Allow(c.Request.Context(), check.key)
		if err != nil {
			slog.WarnContext(c.Request.Context(), "rate limiter unavailable", "error", err)
			continue
		}
		if !ok {
			seconds := int(math.Ceil(retryAfter.Seconds()))
			c.Header("Retry-After", fmt.Sprint(seconds))
			p.render(c, http.StatusTooManyRequests, "too_many_requests", map[string]any{"Wait": waitText(retryAfter)})
			return false
		}
	}
	return true
}

func waitText(d time.Duration) string {
	switch minutes := int(math.Ceil(d.Minutes())); {
	case minutes <= 1:
		return "a minute"
	case minutes < 60:
		return fmt.Sprintf("%d minutes", minutes)
	default:
		return "an hour"
	}
}

// addressProblem is the error message for an address that did not parse.
func addressProblem(raw string) string {
	if strings.TrimSpace(raw) == "" {
		return "Enter your email address"
	}
	return "Enter an email address in the correct format, like name@example.com"
}
