// Package outage tells the errors that mean PostgreSQL or Redis cannot be
// reached right now (down, restarting, refusing connections, too slow)
// from every other error, so that a request failing because of them is
// answered 503 Service Unavailable, which clients retry, and never 500.
// It is the one place that decides; the JSON API and the pages both ask it.
// It also tells a request whose client went away (ClientGone), which is
// neither the service's failure nor an outage.
package outage

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/lib/pq"
)

// RetryAfter is the Retry-After header value, in seconds, sent with a 503.
const RetryAfter = "5"

// StatusClientClosedRequest is the status (nginx's 499) logged and
// counted for a request whose client closed its connection before the
// answer: nobody reads it, and the failure is the client's, not a 500.
const StatusClientClosedRequest = 499

// ClientGone reports that the client of the request whose context is ctx
// has gone: net/http cancels a request's context when its connection
// closes. Whatever error the work then returns (a cancelled statement, a
// transaction the driver rolled back) comes from that, not from a fault.
// A deadline that ran out is not this: that is the service being slow.
func ClientGone(ctx context.Context) bool {
	return errors.Is(ctx.Err(), context.Canceled)
}

// Is reports whether err, anywhere in its chain, is a sign that a backing
// service is unreachable or restarting rather than a bug or bad input:
//   - a broken or refused connection (driver.ErrBadConn, sql.ErrConnDone,
//     any net.Error, an unexpected EOF from the server);
//   - a deadline that ran out while waiting for it;
//   - a PostgreSQL error of class 08 (connection exception), 57P
//     (operator intervention: admin or crash shutdown, cannot connect now)
//     or 53300 (too many connections).
func Is(err error) bool {
	if err == nil {
		return false
	}
	var netErr net.Error
	var pqErr *pq.Error
	switch {
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.As(err, &netErr):
		return true
	case errors.As(err, &pqErr):
		code := string(pqErr.Code)
		return strings.HasPrefix(code, "08") || strings.HasPrefix(code, "57P") || code == "53300"
	}
	return false
}
