package app

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"email-alert/jsonapi"
)

// apiRouter is the table of contents of the JSON API served on API_ADDR.
func apiRouter(a *app) *gin.Engine {
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.Use(requestLog("api"), a.metrics.HTTP("api"), gin.CustomRecovery(recoverJSON), withDeadline)
	r.NoRoute(jsonapi.NotFound)
	r.NoMethod(jsonapi.MethodNotAllowed)

	r.GET("/healthcheck/live", live)
	r.GET("/healthcheck/ready", a.ready)

	api := r.Group("/", jsonapi.BearerAuth(a.cfg.APITokens))

	s := a.subscribers
	// Subscriber lists
	api.POST("/subscriber-lists", s.FindOrCreateList)
	api.GET("/subscriber-lists", s.FindListByCriteria)
	api.GET("/subscriber-lists/:slug", s.List)
	api.PATCH("/subscriber-lists/:slug", s.UpdateList)
	api.GET("/subscriber-lists/metrics/*path", a.alertsAPI.ListMetrics)
	api.POST("/subscriber-lists/:slug/bulk-unsubscribe", a.mailboxAPI.BulkUnsubscribe)
	// Content changes: alerts and digests
	api.POST("/content-changes", a.alertsAPI.ReceiveContentChange)
	// Subscriptions
	api.POST("/subscriptions", s.Subscribe)
	api.GET("/subscriptions/:id", s.Subscription)
	api.GET("/subscriptions/:id/latest", s.LatestSubscription)
	api.PATCH("/subscriptions/:id", s.ChangeFrequency)
	api.POST("/unsubscribe/:id", s.Unsubscribe)
	// Subscribers
	api.GET("/subscribers/:id/subscriptions", s.Subscriptions)
	api.PATCH("/subscribers/:id", s.ChangeAddress)
	api.DELETE("/subscribers/:id", s.UnsubscribeAll)
	api.GET("/subscribers/:id/audit", s.Audit)
	// Magic links
	l := a.linking
	api.POST("/subscribers/auth-token", l.CreateSignInToken)
	api.POST("/subscriptions/auth-token", l.CreateConfirmationToken)
	// GOV.UK One Login accounts
	api.POST("/subscribers/govuk-account", l.FindAccountSubscriber)
	api.POST("/subscribers/govuk-account/link", l.LinkAccountSubscriber)
	api.GET("/subscribers/govuk-account/:govuk_account_id", l.AccountSubscriber)

	// Operations: metrics and the queues, read only
	api.GET("/metrics", a.metrics.Handler())
	// (uncompressed: the queues' pages show task payloads)
	api.GET("/admin/queues", redisAvailable(a), uncompressed, gin.WrapH(a.queueUI))
	api.GET("/admin/queues/*path", redisAvailable(a), uncompressed, gin.WrapH(a.queueUI))

	// Account lifecycle events, authenticated by ACCOUNT_EVENTS_TOKEN
	accountService := r.Group("/", jsonapi.BearerAuth([]string{a.cfg.AccountEventsToken}))
	e := a.events
	accountService.POST("/account-events", e.PushSET)
	accountService.PUT("/api/oidc-users/:sub", e.PutOIDCUser)
	accountService.DELETE("/api/oidc-users/:sub", e.DeleteOIDCUser)

	// GOV.UK Notify's callbacks, authenticated by NOTIFY_CALLBACK_TOKEN
	notify := r.Group("/", jsonapi.BearerAuth([]string{a.cfg.NotifyCallbackToken}))
	notify.POST("/status-updates", a.mailboxAPI.StatusUpdate)
	notify.POST("/spam-reports", a.mailboxAPI.SpamReport)

	return r
}

// apiHandler is the handler API_ADDR serves: the API router, its large JSON
// answers compressed (see newCompressor), answering HEAD for every GET route.
func apiHandler(a *app) http.Handler { return answerHEAD(a.compress(apiRouter(a))) }

// metricsRouter serves /metrics alone, for a worker run on its own
// (METRICS_ADDR), behind the API bearer token.
func metricsRouter(a *app) *gin.Engine {
	r := gin.New()
	r.Use(gin.Recovery())
	r.NoRoute(jsonapi.NotFound)
	r.GET("/metrics", jsonapi.BearerAuth(a.cfg.APITokens), a.metrics.Handler())
	return r
}
