package redisloss_test

import (
	"context"
	"net"
	"os/exec"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"email-alert/internal/lib/redisloss"
)

// server is a throwaway redis-server on a port of the test's own, which
// the test may flush, stop and start again.
type server struct {
	t    *testing.T
	port string
	cmd  *exec.Cmd
}

func startServer(t *testing.T) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, port: strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)}
	ln.Close()
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *server) start() {
	s.t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		s.t.Fatalf("redis-server is not installed (make test installs it): %v", err)
	}
	s.cmd = exec.Command(path, "--port", s.port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", s.t.TempDir())
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + s.port})
	defer rdb.Close()
	for deadline := time.Now().Add(10 * time.Second); rdb.Ping(context.Background()).Err() != nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			s.t.Fatal("redis-server did not start")
		}
	}
}

func (s *server) stop() {
	if s.cmd != nil {
		_ = s.cmd.Process.Signal(syscall.SIGKILL)
		_ = s.cmd.Wait()
		s.cmd = nil
	}
}

// TestCheckSeesEveryKindOfLoss: a flush, a restart (a new run_id, as after
// a failover) and an outage are each seen once, by every worker; a Redis
// that lost nothing is not.
func TestCheckSeesEveryKindOfLoss(t *testing.T) {
	ctx := context.Background()
	s := startServer(t)
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + s.port, MaxRetries: -1})
	defer rdb.Close()
	one, two := redisloss.New(rdb, "test:epoch"), redisloss.New(rdb, "test:epoch")
	check := func(w *redisloss.Watcher, what string, want bool) {
		t.Helper()
		lost, err := w.Check(ctx)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if lost != want {
			t.Errorf("%s: lost = %v, want %v", what, lost, want)
		}
	}
	check(one, "first look", false)
	check(two, "first look of a second worker", false)
	check(one, "nothing happened", false)

	if err := rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	check(one, "after FLUSHALL", true)
	check(two, "after FLUSHALL, by the worker that noticed second", true)
	check(one, "once only", false)
	check(two, "once only, second worker", false)

	s.stop()
	if _, err := one.Check(ctx); err == nil {
		t.Fatal("Check of a stopped Redis gave no error")
	}
	s.start() // a new run_id, and empty
	check(one, "after a restart", true)
	check(two, "after a restart, second worker", true)
	check(one, "once only after the restart", false)
}

// TestRecoverRunsEveryRequeueInOrder: on a loss, every Requeue runs on all
// the work (olderThan 0, no limit), in the order added.
func TestRecoverRunsEveryRequeueInOrder(t *testing.T) {
	var calls []string
	w := redisloss.New(nil, "unused")
	var bounded atomic.Int32
	for _, name := range []string{"transactional", "events", "bulk"} {
		w.Add(name, func(_ context.Context, olderThan time.Duration, limit int) (int, error) {
			if olderThan != 0 || limit != 0 {
				bounded.Add(1)
			}
			calls = append(calls, name)
			return 1, nil
		})
	}
	w.Recover(context.Background())
	if len(calls) != 3 || calls[0] != "transactional" || calls[1] != "events" || calls[2] != "bulk" || bounded.Load() != 0 {
		t.Errorf("Recover ran %v (%d bounded), want transactional, events, bulk, each on everything", calls, bounded.Load())
	}
}
