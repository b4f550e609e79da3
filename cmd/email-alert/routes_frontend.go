package main

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// frontendRouter is the table of contents of the pages served on
// FRONTEND_ADDR. Every state-changing request passes Go's cross-origin
// protection first (see frontendHandler).
func frontendRouter(a *app) *gin.Engine {
	r := gin.New()
	// Behind no proxy we trust: the client is the connection's peer, and
	// X-Forwarded-For cannot be used to dodge the per-client rate limit.
	_ = r.SetTrustedProxies(nil)
	p := a.pages
	r.Use(requestLog("frontend"), a.metrics.HTTP("frontend"), gin.CustomRecovery(func(c *gin.Context, _ any) { c.AbortWithStatus(http.StatusInternalServerError) }))
	r.NoRoute(p.NotFound)

	r.GET("/healthcheck/live", live)
	r.GET("/healthcheck/ready", a.ready)

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
	// Subscribe, confirming the address by email
	r.GET("/email/subscriptions/verify", p.VerifyForm)
	r.POST("/email/subscriptions/verify", p.Verify)
	r.GET("/email/subscriptions/authenticate", p.ConfirmSubscription)

	if a.cfg.Local && a.cfg.EmailDelivery == "log" {
		r.GET("/dev/outbox", p.DevOutbox)
	}
	return r
}

// frontendHandler is the frontend router behind cross-origin protection:
// a POST from another site (by Origin or Sec-Fetch-Site) gets 403. The
// back-channel logout is exempt: One Login calls it server to server, and
// it is authenticated by its signed token instead.
func frontendHandler(a *app) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.AddInsecureBypassPattern("POST /sign-in/backchannel-logout")
	return cop.Handler(frontendRouter(a))
}
