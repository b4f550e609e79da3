package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"regexp"
	"time"

	"github.com/gin-gonic/gin"
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
		c.Next()
		level := slog.LevelInfo
		if c.Writer.Status() >= 500 {
			level = slog.LevelError
		}
		slog.LogAttrs(c.Request.Context(), level, "request",
			slog.String("server", server),
			slog.String("request_id", id),
			slog.String("method", c.Request.Method),
			slog.String("path", c.Request.URL.Path),
			slog.String("route", c.FullPath()),
			slog.Int("status", c.Writer.Status()),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
		)
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
