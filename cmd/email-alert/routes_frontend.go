package main

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// frontendRouter is the table of contents of the pages served on
// FRONTEND_ADDR.
func frontendRouter(a *app) *gin.Engine {
	r := gin.New()
	r.Use(requestLog("frontend"), gin.Recovery())
	r.NoRoute(func(c *gin.Context) { c.String(http.StatusNotFound, "Page not found") })

	r.GET("/healthcheck/live", live)
	r.GET("/healthcheck/ready", a.ready)

	return r
}
