package app

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"email-alert/internal/config"
)

// TestSentinelURLUsesItsDatabase starts a redis-server and a Sentinel
// watching it, connects through a redis-sentinel://…/3?master= URL as the
// service does, and checks that what it writes lands in database 3 of the
// master, not database 0.
func TestSentinelURLUsesItsDatabase(t *testing.T) {
	if testing.Short() {
		t.Skip("runs redis-server and a Sentinel")
	}
	ctx := context.Background()
	master := privateRedis(t)
	masterOpt, _ := redis.ParseURL(master)
	sentinelAddr := freeAddr(t)
	_, port, _ := net.SplitHostPort(sentinelAddr)
	host, masterPort, _ := net.SplitHostPort(masterOpt.Addr)
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, "port %s\nbind 127.0.0.1\ndir %s\nsentinel monitor test-master %s %s 1\n",
		port, dir, host, masterPort), 0o600); err != nil {
		t.Fatal(err)
	}
	path, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not installed (make test installs it): %v", err)
	}
	sentinel := exec.Command(path, conf, "--sentinel")
	if err := sentinel.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kill(sentinel) })

	cfg, err := config.Parse(func(k string) string {
		return map[string]string{"REDIS_URL": "redis-sentinel://" + sentinelAddr + "/3?master=test-master"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	rdb, err := newRedisClient(cfg.Redis)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	for deadline := time.Now().Add(10 * time.Second); rdb.Set(ctx, "which-db", "3", 0).Err() != nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no connection through the Sentinel within 10 s")
		}
	}
	for db, want := range map[int]int64{0: 0, 3: 1} {
		direct := redis.NewClient(&redis.Options{Addr: masterOpt.Addr, DB: db})
		if n := direct.Exists(ctx, "which-db").Val(); n != want {
			t.Errorf("database %d of the master holds the key %d times, want %d", db, n, want)
		}
		direct.Close()
	}
}
