package main

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"email-alert/frontend"
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
	r.Use(requestLog("frontend"), a.metrics.HTTP("frontend"), frontend.SecurityHeaders, gin.CustomRecovery(func(c *gin.Context, _ any) { c.AbortWithStatus(http.StatusInternalServerError) }), withDeadline)
	r.Use(p.ReadForm, uncompressedWithSecret)
	r.NoRoute(p.NotFound)
	r.HandleMethodNotAllowed = true
	r.NoMethod(p.MethodNotAllowed)

	r.GET("/healthcheck/live", live)
	r.GET("/healthcheck/ready", a.ready)
	r.GET("/assets/*path", a.assets.Handler())
	r.HEAD("/assets/*path", a.assets.Handler())

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

	if a.cfg.Local && a.cfg.EmailDelivery == "log" {
		r.GET("/dev/outbox", p.DevOutbox)
	}
	return r
}

// frontendHandler is the frontend router behind cross-origin protection,
// its pages compressed (see newCompressor and uncompressedWithSecret):
// a POST from another site (by Origin or Sec-Fetch-Site) gets 403. The
// back-channel logout is exempt: One Login calls it server to server, and
// it is authenticated by its signed token instead.
func frontendHandler(a *app) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.AddInsecureBypassPattern("POST /sign-in/backchannel-logout")
	return a.compress(cop.Handler(frontendRouter(a)))
}
