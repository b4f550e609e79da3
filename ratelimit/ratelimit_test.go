package ratelimit

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"email-alert/internal/testkit/testdb"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    []Limit
		wantErr bool
	}{
		{in: "4/minute,11/hour", want: []Limit{{4, time.Minute}, {11, time.Hour}}},
		{in: "3/minute", want: []Limit{{3, time.Minute}}},
		{in: "1/second,2/minute,3/hour,4/day", want: []Limit{{1, time.Second}, {2, time.Minute}, {3, time.Hour}, {4, 24 * time.Hour}}},
		{in: "11/hour,4/minute", want: []Limit{{11, time.Hour}, {4, time.Minute}}},
		{in: " 4 / minute , 11/hour ", want: []Limit{{4, time.Minute}, {11, time.Hour}}},
		{in: "\t5/day\n", want: []Limit{{5, 24 * time.Hour}}},
		{in: "", wantErr: true},
		{in: "   ", wantErr: true},
		{in: "4/minutes", wantErr: true},
		{in: "4/week", wantErr: true},
		{in: "4/Minute", wantErr: true},
		{in: "4/", wantErr: true},
		{in: "/minute", wantErr: true},
		{in: "0/minute", wantErr: true},
		{in: "-1/minute", wantErr: true},
		{in: "+4/minute", wantErr: true},
		{in: "4.5/minute", wantErr: true},
		{in: "99999999999999999999/minute", wantErr: true},
		{in: "garbage", wantErr: true},
		{in: "4minute", wantErr: true},
		{in: "4/minute/hour", wantErr: true},
		{in: "4/minute,", wantErr: true},
		{in: ",4/minute", wantErr: true},
		{in: "4/minute,,11/hour", wantErr: true},
		{in: "4 4/minute", wantErr: true},
		{in: "4/minute,5/minute", wantErr: true},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("Parse(%q) = %v, want an error", tt.in, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("Parse(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// newLimiter returns a Limiter on the test Redis whose keys carry a prefix
// of their own, deleted when the test ends, and that prefix.
func newLimiter(t *testing.T, name, limits string) (*Limiter, redis.UniversalClient, string) {
	t.Helper()
	rdb := testdb.Redis(t)
	ls, err := Parse(limits)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	prefix := "test-" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, k := range scanKeys(t, rdb, "*"+prefix+"*") {
			rdb.Del(ctx, k)
		}
	})
	return New(rdb, name, ls).WithPrefix(prefix), rdb, prefix
}

func scanKeys(t *testing.T, rdb redis.UniversalClient, pattern string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var keys []string
	iter := rdb.Scan(ctx, 0, pattern, 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatalf("scan %q: %v", pattern, err)
	}
	return keys
}

func mustAllow(t *testing.T, l *Limiter, key string, want bool) time.Duration {
	t.Helper()
	ok, retry, err := l.Allow(context.Background(), key)
	if err != nil {
		t.Fatalf("Allow(%q): %v", key, err)
	}
	if ok != want {
		t.Fatalf("Allow(%q) = %v (retryAfter %v), want %v", key, ok, retry, want)
	}
	if ok && retry != 0 {
		t.Errorf("Allow(%q) allowed with retryAfter %v, want 0", key, retry)
	}
	return retry
}

func TestAllowDeniesOverLimit(t *testing.T) {
	t.Parallel()
	l, _, _ := newLimiter(t, "address", "3/minute")
	for range 3 {
		mustAllow(t, l, "a@example.com", true)
	}
	retry := mustAllow(t, l, "a@example.com", false)
	if retry <= 0 || retry > time.Minute {
		t.Errorf("retryAfter = %v, want in (0, 1m]", retry)
	}
	// Denied events are not counted: still denied, never more than a minute.
	retry = mustAllow(t, l, "a@example.com", false)
	if retry <= 0 || retry > time.Minute {
		t.Errorf("second retryAfter = %v, want in (0, 1m]", retry)
	}
}

func TestAllowKeysIndependent(t *testing.T) {
	t.Parallel()
	l, rdb, prefix := newLimiter(t, "address", "3/minute")
	for range 3 {
		mustAllow(t, l, "a@example.com", true)
	}
	mustAllow(t, l, "a@example.com", false)
	for range 3 {
		mustAllow(t, l, "b@example.com", true)
	}
	mustAllow(t, l, "b@example.com", false)

	// Another name is another key space, even for the same key.
	ls, _ := Parse("3/minute")
	client := New(rdb, "client", ls).WithPrefix(prefix)
	mustAllow(t, client, "a@example.com", true)
	// And another prefix too.
	mustAllow(t, l.WithPrefix(prefix+"other:"), "a@example.com", true)
}

func TestAllowSeveralLimits(t *testing.T) {
	t.Parallel()
	l, _, _ := newLimiter(t, "client", "3/minute,2/second")
	const ip = "192.0.2.1"
	mustAllow(t, l, ip, true)
	mustAllow(t, l, ip, true)
	retry := mustAllow(t, l, ip, false) // per second
	if retry <= 0 || retry > time.Second {
		t.Errorf("per-second retryAfter = %v, want in (0, 1s]", retry)
	}

	time.Sleep(1100 * time.Millisecond)
	// The per-second limit has freed up, and the event it denied was not
	// counted against the per-minute limit: a third event is allowed.
	mustAllow(t, l, ip, true)
	retry = mustAllow(t, l, ip, false) // per minute
	if retry <= time.Second || retry > time.Minute {
		t.Errorf("per-minute retryAfter = %v, want in (1s, 1m]", retry)
	}
}

func TestAllowNoLimits(t *testing.T) {
	t.Parallel()
	l := New(testdb.Redis(t), "none", nil)
	for range 10 {
		mustAllow(t, l, "x", true)
	}
}

func TestKeysAreHashed(t *testing.T) {
	t.Parallel()
	l, rdb, prefix := newLimiter(t, "address", "4/minute,11/hour")
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	keys := []string{"alice-" + hex.EncodeToString(b) + "@example.com", "203.0.113.7"}
	for _, k := range keys {
		mustAllow(t, l, k, true)
	}

	stored := scanKeys(t, rdb, "*"+prefix+"*")
	if len(stored) != 4 {
		t.Errorf("keys under prefix %q: %q, want 4 (2 keys × 2 limits)", prefix, stored)
	}
	for _, k := range keys {
		if found := scanKeys(t, rdb, "*"+k+"*"); len(found) > 0 {
			t.Errorf("Redis keys contain %q in clear: %q", k, found)
		}
		for _, s := range stored {
			if v, _ := rdb.Get(context.Background(), s).Result(); strings.Contains(v, k) {
				t.Errorf("Redis value of %s contains %q in clear", s, k)
			}
		}
		sum := sha256.Sum256([]byte(k))
		want := "rate:" + prefix + "ratelimit:address:1m0s:" + hex.EncodeToString(sum[:])
		if !slices.Contains(stored, want) {
			t.Errorf("key %s not found among %q", want, stored)
		}
	}
}

func TestNewPanicsOnBadLimits(t *testing.T) {
	t.Parallel()
	for _, ls := range [][]Limit{
		{{0, time.Minute}},
		{{1, 0}},
		{{-1, time.Minute}},
		{{1, time.Minute}, {2, time.Minute}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New(%v) did not panic", ls)
				}
			}()
			New(nil, "x", ls)
		}()
	}
}

// TestAllowGivesUpOnAHungRedis: a Redis that accepts connections but never
// answers makes Allow return an error within about Timeout, not hang.
func TestAllowGivesUpOnAHungRedis(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			defer conn.Close() // held open, never answered
		}
	}()
	rdb := redis.NewClient(&redis.Options{Addr: ln.Addr().String(), ContextTimeoutEnabled: true})
	defer rdb.Close()
	l := New(rdb, "address", []Limit{{4, time.Minute}})
	start := time.Now()
	ok, _, err := l.Allow(context.Background(), "ann@example.com")
	if took := time.Since(start); err == nil || ok || took > Timeout+time.Second {
		t.Errorf("Allow on a hung Redis = %v, %v after %s; want an error within about %s", ok, err, took, Timeout)
	}
}
