package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"regexp"
	"time"

	"github.com/gin-gonic/gin"

	"email-alert/frontend"
	"email-alert/internal/lib/outage"
	"email-alert/jsonapi"
)

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// requestLog gives every request an id (kept from X-Request-Id when it is
// well-formed, so a trace crosses services) and logs the request once it is
// answered. Only the path is logged: query strings can carry tokens.
func requestLog(server string) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		id := c.GetHeader("X-Request-Id")
		if !requestIDPattern.MatchString(id) {
			id = newRequestID()
		}
		c.Header("X-Request-Id", id)
		c.Set(requestIDKey, id)
		c.Next()
		level := slog.LevelInfo
		if c.Writer.Status() >= 500 {
			level = slog.LevelError
		}
		slog.LogAttrs(c.Request.Context(), level, "request",
			slog.String("server", server),
			slog.String("request_id", id),
			slog.String("method", methodOf(c.Request)),
			slog.String("path", c.Request.URL.Path),
			slog.String("route", c.FullPath()),
			slog.Int("status", c.Writer.Status()),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
		)
	}
}

// answerHEAD serves a HEAD request as the GET of the same URL, without its
// body, so that every GET route of h answers HEAD (load balancers check
// health with HEAD), the routes added later included. A path with no GET
// route answers HEAD as it answers GET: 404 or 405.
func answerHEAD(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodHead {
			h.ServeHTTP(w, r)
			return
		}
		get := r.Clone(context.WithValue(r.Context(), headRequest{}, true))
		get.Method = http.MethodGet
		h.ServeHTTP(bodyless{w}, get)
	})
}

// headRequest marks, in its context, a request that came as HEAD.
type headRequest struct{}

// methodOf is the method the client sent: HEAD for what answerHEAD serves
// as GET.
func methodOf(r *http.Request) string {
	if head, _ := r.Context().Value(headRequest{}).(bool); head {
		return http.MethodHead
	}
	return r.Method
}

// bodyless is a ResponseWriter that keeps the status and headers and drops
// the body.
type bodyless struct{ http.ResponseWriter }

func (w bodyless) Write(p []byte) (int, error) { return len(p), nil }

// Flush is a no-op: there is no body to flush, and gin expects a Flusher.
func (w bodyless) Flush() {}

func (w bodyless) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// requestIDKey holds the request id in the gin context, for the lines
// other middleware logs about the request.
const requestIDKey = "request_id"

// crossOriginProtection refuses a state-changing request from another
// site (by Origin or Sec-Fetch-Site: Go's http.CrossOriginProtection)
// before it is routed, with the GOV.UK 403 page, logged with its request
// id and counted. Two routes are exempt, each authenticated by a token
// in the request instead of by coming from our pages: the back-channel
// logout (One Login calls it server to server, with a signed token), and
// the one-click unsubscribe (RFC 8058: mail clients post the
// List-Unsubscribe URL from their own site or servers, and its token is in
// the URL).
func crossOriginProtection(a *app, next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.AddInsecureBypassPattern("POST /sign-in/backchannel-logout")
	cop.AddInsecureBypassPattern("POST /email/unsubscribe/one-click/{id}")
	refused := gin.New()
	refused.Use(requestLog("frontend"), a.metrics.HTTP("frontend"), frontend.SecurityHeaders(origin(a.cfg.OIDCIssuerURL)))
	refused.NoRoute(func(c *gin.Context) {
		slog.WarnContext(c.Request.Context(), "cross-origin request refused",
			"request_id", c.GetString(requestIDKey), "method", c.Request.Method, "path", c.Request.URL.Path,
			"origin", c.GetHeader("Origin"), "sec_fetch_site", c.GetHeader("Sec-Fetch-Site"))
		a.metrics.CrossOriginRefused()
		a.pages.Forbidden(c)
	})
	cop.SetDenyHandler(refused)
	return cop.Handler(next)
}

// redisAvailable answers 503 (with Retry-After, in JSON) when Redis does
// not answer a ping within a second, before a handler that needs it (the
// queue UI, which would otherwise answer 500 with its dial error in
// plain text).
func redisAvailable(a *app) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), time.Second)
		defer cancel()
		if err := a.redis.Ping(ctx).Err(); err != nil {
			slog.WarnContext(c.Request.Context(), "redis unavailable", "path", c.FullPath(), "error", err)
			c.Header("Retry-After", outage.RetryAfter)
			jsonapi.Abort(c, http.StatusServiceUnavailable, "Service unavailable: Redis cannot be reached; try again later", nil)
			return
		}
		c.Next()
	}
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// recoverJSON turns a panic into a logged error and a JSON 500.
func recoverJSON(c *gin.Context, recovered any) {
	slog.ErrorContext(c.Request.Context(), "panic", "path", c.Request.URL.Path, "panic", recovered)
	c.AbortWithStatusJSON(500, gin.H{"error": "Internal error"})
}

// requestTimeout is the deadline of every request's context: the database
// and Redis calls made for it give up then, and the request is answered
// 503 (see outage.Is), well before the server's WriteTimeout.
const requestTimeout = 10 * time.Second

// withDeadline gives the request's context the requestTimeout deadline,
// so a request waiting on a pool, a dial or a query cannot hang.
func withDeadline(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), requestTimeout)
	defer cancel()
	c.Request = c.Request.WithContext(ctx)
	c.Next()
}
