package app

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"email-alert/internal/config"
	"email-alert/internal/testkit/testrig/proc"
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
	master := proc.StartRedis(t)
	sentinelAddr := proc.StartSentinel(t, master.Addr(), "test-master")

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
		direct := redis.NewClient(&redis.Options{Addr: master.Addr(), DB: db})
		if n := direct.Exists(ctx, "which-db").Val(); n != want {
			t.Errorf("database %d of the master holds the key %d times, want %d", db, n, want)
		}
		direct.Close()
	}
}
