package jsonapi

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"email-alert/internal/lib/outage"
)

// ErrorCase is the answer to one domain error: a request whose domain call
// failed with an error matching Err (errors.Is) ends with Status and the
// error body {"error": Message, "details": Details}.
type ErrorCase struct {
	Err     error
	Status  int
	Message string
	Details Details

	as func(error) (Details, bool) // set by ErrorAs, in place of Err
}

// ErrorAs is the case of every error of type E (errors.As): an error that
// carries a value its details name.
func ErrorAs[E error](status int, message string, details func(E) Details) ErrorCase {
	return ErrorCase{Status: status, Message: message, as: func(err error) (Details, bool) {
		var target E
		if !errors.As(err, &target) {
			return nil, false
		}
		return details(target), true
	}}
}

func (ec ErrorCase) match(err error) (Details, bool) {
	if ec.as != nil {
		return ec.as(err)
	}
	return ec.Details, errors.Is(err, ec.Err)
}

// Errors maps the domain errors of a package's (or a handler's) calls to
// their answers, the first matching case winning: the one place where a
// domain error gets its status and message. Handlers end with
// errs.Fail(c, err) and leave the rest to it.
type Errors []ErrorCase

// Answer ends the request with the answer to err, when one of the cases
// matches it, and reports whether one did.
func (errs Errors) Answer(c *gin.Context, err error) bool {
	for _, ec := range errs {
		if details, ok := ec.match(err); ok {
			Abort(c, ec.Status, ec.Message, details)
			return true
		}
	}
	return false
}

// Fail answers err with its case, and an error no case matches as the
// package-level Fail does: logged, and 503 or 500 with nothing about it.
func (errs Errors) Fail(c *gin.Context, err error) {
	if !errs.Answer(c, err) {
		Fail(c, err)
	}
}

// Fail answers a request whose domain call failed with an error the
// handler has no answer for, and logs it; the body says nothing about it.
// When PostgreSQL or Redis is unreachable or restarting (outage.Is) the
// answer is 503 with Retry-After, which clients retry; otherwise 500. When
// the client has already gone (outage.ClientGone) it is 499, logged at
// INFO: the client's doing, not a fault of the service.
func Fail(c *gin.Context, err error) {
	ctx := c.Request.Context()
	if outage.ClientGone(ctx) {
		slog.InfoContext(ctx, "request cancelled by the client", "path", c.FullPath(), "error", err)
		c.AbortWithStatus(outage.StatusClientClosedRequest)
		return
	}
	if outage.Is(err) {
		slog.WarnContext(ctx, "request failed: service unavailable", "path", c.FullPath(), "error", err)
		Unavailable(c, "Service unavailable; try again later")
		return
	}
	slog.ErrorContext(ctx, "request failed", "path", c.FullPath(), "error", err)
	Abort(c, http.StatusInternalServerError, "Internal error", nil)
}

// Unavailable ends the request with 503, Retry-After and message: a
// request that can succeed later, which clients retry.
func Unavailable(c *gin.Context, message string) {
	c.Header("Retry-After", outage.RetryAfter)
	Abort(c, http.StatusServiceUnavailable, message, nil)
}
