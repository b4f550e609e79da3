package outage

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/lib/pq"
)

func TestIs(t *testing.T) {
	t.Parallel()
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"connection refused", fmt.Errorf("list by slug: %w", refused), true},
		{"bad connection", fmt.Errorf("x: %w", driver.ErrBadConn), true},
		{"connection done", sql.ErrConnDone, true},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), true},
		{"admin shutdown 57P01", &pq.Error{Code: "57P01"}, true},
		{"cannot connect now 57P03", fmt.Errorf("x: %w", &pq.Error{Code: "57P03"}), true},
		{"connection failure 08006", &pq.Error{Code: "08006"}, true},
		{"too many connections 53300", &pq.Error{Code: "53300"}, true},
		{"unique violation 23505", &pq.Error{Code: "23505"}, false},
		{"syntax error 42601", &pq.Error{Code: "42601"}, false},
		{"no rows", sql.ErrNoRows, false},
		{"cancelled by the client", context.Canceled, false},
		{"anything else", errors.New("boom"), false},
	} {
		if got := Is(tc.err); got != tc.want {
			t.Errorf("%s: Is(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

func TestClientGone(t *testing.T) {
	t.Parallel()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, stop := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer stop()
	// A deadline inside a cancelled request is still the client's doing.
	inner, stopInner := context.WithTimeout(cancelled, time.Hour)
	defer stopInner()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		want bool
	}{
		{"live", context.Background(), false},
		{"cancelled: the connection closed", cancelled, true},
		{"deadline: the service was slow", expired, false},
		{"timeout under a cancelled request", inner, true},
	} {
		if got := ClientGone(tc.ctx); got != tc.want {
			t.Errorf("%s: ClientGone = %v, want %v", tc.name, got, tc.want)
		}
	}
}
