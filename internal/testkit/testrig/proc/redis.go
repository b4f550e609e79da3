package proc

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisServer is a redis-server of one test alone, on a port of its own:
// the test may FLUSHALL it, stop it, pause it and start it again without
// touching anyone else's data. It keeps nothing on disk.
type RedisServer struct {
	t    testing.TB
	path string
	addr string
	dir  string
	proc *Process
}

// StartRedis starts a private redis-server, stopped when the test ends.
func StartRedis(t testing.TB) *RedisServer {
	t.Helper()
	r := &RedisServer{t: t, path: redisServerPath(t), addr: FreeAddr(t), dir: t.TempDir()}
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

func redisServerPath(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not installed (make test installs it): %v", err)
	}
	return path
}

// Addr is the server's host:port.
func (r *RedisServer) Addr() string { return r.addr }

// URL is a REDIS_URL of the server's database 0.
func (r *RedisServer) URL() string { return "redis://" + r.addr + "/0" }

// Client returns a client of database 0, closed when the test ends.
func (r *RedisServer) Client(t testing.TB) *redis.Client {
	rdb := redis.NewClient(&redis.Options{Addr: r.addr})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// Start starts the server (again, after Stop) on its port and waits until
// it answers PING.
func (r *RedisServer) Start() {
	r.t.Helper()
	_, port, _ := net.SplitHostPort(r.addr)
	r.proc = StartCmd(r.t, "redis-server "+r.addr, exec.Command(r.path,
		"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", r.dir))
	waitPing(r.t, "redis-server", r.addr)
}

// Stop kills the server (resuming it first if paused): it loses every key.
func (r *RedisServer) Stop() {
	if r.proc != nil {
		_ = r.proc.Signal(syscall.SIGCONT)
		r.proc.Kill()
		r.proc = nil
	}
}

// Pause stops the server with SIGSTOP: it accepts connections and never
// answers, until Resume.
func (r *RedisServer) Pause() {
	r.t.Helper()
	if err := r.proc.Signal(syscall.SIGSTOP); err != nil {
		r.t.Fatal(err)
	}
}

// Resume lets a paused server answer again (SIGCONT).
func (r *RedisServer) Resume() {
	r.t.Helper()
	if err := r.proc.Signal(syscall.SIGCONT); err != nil {
		r.t.Fatal(err)
	}
}

// StartSentinel starts a Redis Sentinel monitoring the master at
// masterAddr under the name master, stopped when the test ends, and
// returns its address.
func StartSentinel(t testing.TB, masterAddr, master string) string {
	t.Helper()
	addr := FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	host, masterPort, _ := net.SplitHostPort(masterAddr)
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, "port %s\nbind 127.0.0.1\ndir %s\nsentinel monitor %s %s %s 1\n",
		port, dir, master, host, masterPort), 0o600); err != nil {
		t.Fatal(err)
	}
	StartCmd(t, "redis sentinel "+addr, exec.Command(redisServerPath(t), conf, "--sentinel"))
	return addr
}

func waitPing(t testing.TB, what, addr string) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	for deadline := time.Now().Add(10 * time.Second); rdb.Ping(context.Background()).Err() != nil; {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer PING at %s within 10 s", what, addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
