package app

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// live answers as long as the process serves requests.
func live(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// ready answers 200 when PostgreSQL and Redis both answer within a second,
// else 503, naming the check that failed.
func (a *app) ready(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), time.Second)
	defer cancel()
	checks := map[string]error{
		"postgresql": a.db.PingContext(ctx),
		"redis":      a.redis.Ping(ctx).Err(),
	}
	status, overall := http.StatusOK, "ok"
	body := gin.H{}
	for name, err := range checks {
		if err != nil {
			status, overall = http.StatusServiceUnavailable, "unavailable"
			body[name] = gin.H{"status": "unavailable"}
			continue
		}
		body[name] = gin.H{"status": "ok"}
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(status, gin.H{"status": overall, "checks": body})
}
