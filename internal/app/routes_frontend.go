package app

import (
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"email-alert/frontend"
	"email-alert/internal/config"
)

// frontendRouter is the table of contents of the pages served on
// FRONTEND_ADDR. Every state-changing request passes Go's cross-origin
// protection first (see frontendHandler).
func frontendRouter(a *app) *gin.Engine {
	r := gin.New()
	trustProxies(r, a.cfg)
	p := a.pages
	r.Use(requestLog("frontend"), a.metrics.HTTP("frontend"), frontend.SecurityHeaders(origin(a.cfg.OIDCIssuerURL)), gin.CustomRecovery(func(c *gin.Context, _ any) { c.AbortWithStatus(http.StatusInternalServerError) }), withDeadline)
	r.Use(p.Language, p.ReadForm, uncompressedWithSecret)
	r.NoRoute(p.NotFound)
	r.HandleMethodNotAllowed = true
	r.NoMethod(p.MethodNotAllowed)

	r.GET("/healthcheck/live", live)
	r.GET("/healthcheck/ready", a.ready)
	r.GET("/assets/*path", a.assets.Handler())
	r.GET("/favicon.ico", a.assets.Favicon)

	// Sign in by magic link
	r.GET("/email/manage/authenticate", p.AuthenticateForm)
	r.POST("/email/manage/authenticate", p.Authenticate)
	r.GET("/email/manage/authenticate/process", p.ProcessSignIn)
	// Sign in with GOV.UK One Login
	r.GET("/email/manage/authenticate/account", p.StartAccountSignIn)
	r.GET("/sign-in/callback", p.SignInCallback)
	r.GET("/sign-out", p.SignOut)
	r.GET("/signed-out", p.SignedOut)
	r.POST("/sign-in/backchannel-logout", p.BackchannelLogout)
	// Manage subscriptions
	r.GET("/email/manage", p.Manage)
	r.GET("/email/manage/frequency/:id", p.FrequencyForm)
	r.POST("/email/manage/frequency/:id", p.ChangeFrequency)
	r.GET("/email/unsubscribe/:id", p.UnsubscribeForm)
	r.POST("/email/unsubscribe/:id", p.Unsubscribe)
	// The List-Unsubscribe URL of every email about a list (RFC 8058),
	// posted by mail clients: exempt from the cross-site check
	r.POST("/email/unsubscribe/one-click/:id", p.OneClickUnsubscribe)
	r.GET("/email/manage/unsubscribe-all", p.UnsubscribeAllForm)
	r.POST("/email/manage/unsubscribe-all", p.UnsubscribeAll)
	r.GET("/email/manage/address", p.AddressForm)
	r.POST("/email/manage/address", p.RequestAddressChange)
	r.GET("/email/manage/address/confirm", p.ConfirmAddressChange)
	// Subscribe: how often, then (unless signed in with a linked account)
	// the address, confirmed by email
	r.GET("/email/subscriptions/new", p.NewSubscription)
	r.POST("/email/subscriptions/new", p.ChooseFrequency)
	r.GET("/email/subscriptions/verify", p.VerifyForm)
	r.POST("/email/subscriptions/verify", p.Verify)
	r.GET("/email/subscriptions/authenticate", p.ConfirmSubscription)
	// ... or, from the address step, with GOV.UK One Login: no email to confirm
	r.POST("/email/subscriptions/verify/account", p.VerifyAccount)
	r.GET("/email/subscriptions/account/confirm", p.AccountConfirmForm)
	r.POST("/email/subscriptions/account", p.AccountSubscribe)

	if a.cfg.Local && a.cfg.EmailDelivery == "log" {
		r.GET("/dev/outbox", p.DevOutbox)
	}
	return r
}

// trustProxies makes c.ClientIP, which the per-client rate limits count,
// the connection's peer, unless the peer is in TRUSTED_PROXIES (GOV.UK's
// CDN, the load balancers): then it is the address in CLIENT_IP_HEADER.
// Behind the CDN many people share one peer, and without this one busy
// client would use up everyone's budget; from anyone else the header is
// ignored, so it cannot be used to dodge the limit. A value that is not an
// IP address counts as the peer; a list (or the header repeated) counts
// its rightmost address that is not itself a trusted proxy, as gin reads
// X-Forwarded-For.
func trustProxies(r *gin.Engine, cfg *config.Config) {
	r.ForwardedByClientIP = true
	r.RemoteIPHeaders = []string{cfg.ClientIPHeader}
	if err := r.SetTrustedProxies(cfg.TrustedProxies); err != nil {
		panic("TRUSTED_PROXIES, checked by config.Parse: " + err.Error())
	}
}

// frontendHandler is the frontend router behind cross-origin protection
// (see crossOriginProtection), its pages compressed (see newCompressor and
// uncompressedWithSecret), answering HEAD for every GET route.
func frontendHandler(a *app) http.Handler {
	return answerHEAD(a.compress(crossOriginProtection(a, frontendRouter(a))))
}

// origin is the scheme and host of an http(s) URL (checked by
// config.Parse): One Login's origin, where a form may lead.
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}
