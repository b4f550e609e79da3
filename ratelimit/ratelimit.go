// Package ratelimit throttles sign-in and confirmation requests per email
// address and per client IP. The counters live in Redis; losing them (a
// Redis restart or flush) only resets the throttles, which is acceptable
// because they protect against abuse and hold no data.
//
// The limits are enforced with GCRA (the generic cell rate algorithm) by
// github.com/go-redis/redis_rate: a Limit of Count per Per allows a burst of
// Count events and then one event every Per/Count.
package ratelimit

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// Limit allows Count events per Per: a burst of up to Count events, after
// which the budget comes back at a steady one event every Per/Count.
type Limit struct {
	Count int
	Per   time.Duration
}

// units are the period names Parse accepts.
var units = map[string]time.Duration{
	"second": time.Second,
	"minute": time.Minute,
	"hour":   time.Hour,
	"day":    24 * time.Hour,
}

// Parse reads a comma-separated list of limits such as "4/minute,11/hour"
// into limits, in the order written. Each item is a positive decimal count,
// a slash and one of the units second, minute, hour or day (lower case,
// singular). Spaces around items, counts and units are ignored. An empty
// string, an empty item, a count that is not a positive integer, an
// unknown unit, or two limits with the same unit are errors.
func Parse(s string) ([]Limit, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("ratelimit: no limits given")
	}
	var limits []Limit
	seen := make(map[time.Duration]bool)
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		countStr, unit, ok := strings.Cut(item, "/")
		if !ok {
			return nil, fmt.Errorf("ratelimit: limit %q is not of the form COUNT/UNIT", item)
		}
		countStr, unit = strings.TrimSpace(countStr), strings.TrimSpace(unit)
		if countStr == "" || strings.Trim(countStr, "0123456789") != "" {
			return nil, fmt.Errorf("ratelimit: limit %q: count %q is not a positive integer", item, countStr)
		}
		count, err := strconv.Atoi(countStr)
		if err != nil {
			return nil, fmt.Errorf("ratelimit: limit %q: count: %w", item, err)
		}
		if count <= 0 {
			return nil, fmt.Errorf("ratelimit: limit %q: count must be positive", item)
		}
		per, ok := units[unit]
		if !ok {
			return nil, fmt.Errorf("ratelimit: limit %q: unknown unit %q (want second, minute, hour or day)", item, unit)
		}
		if seen[per] {
			return nil, fmt.Errorf("ratelimit: limit %q: a limit per %s is already given", item, unit)
		}
		seen[per] = true
		limits = append(limits, Limit{Count: count, Per: per})
	}
	return limits, nil
}

// Timeout is the most time one Allow waits for Redis.
const Timeout = time.Second

// Limiter checks several limits on one key space (such as email addresses
// or client IPs). It is safe for concurrent use, also from several
// processes sharing the Redis.
type Limiter struct {
	rl     *redis_rate.Limiter
	name   string
	prefix string
	limits []Limit // most permissive rate first
}

// New returns a Limiter named name (part of the Redis keys, e.g. "address"
// or "client") enforcing every limit in limits on rdb. With no limits it
// allows everything. New panics when a limit has a Count or Per that is not
// positive, or when two limits have the same Per (they would share a Redis
// key); Parse never returns such limits.
func New(rdb redis.UniversalClient, name string, limits []Limit) *Limiter {
	sorted := slices.Clone(limits)
	for i, lim := range sorted {
		if lim.Count <= 0 || lim.Per <= 0 {
			panic(fmt.Sprintf("ratelimit: New(%q): invalid limit %d per %s", name, lim.Count, lim.Per))
		}
		for _, other := range sorted[:i] {
			if other.Per == lim.Per {
				panic(fmt.Sprintf("ratelimit: New(%q): two limits per %s", name, lim.Per))
			}
		}
	}
	// Most permissive rate first (shortest time between events, Per/Count):
	// see Allow for why.
	slices.SortStableFunc(sorted, func(a, b Limit) int {
		return cmp.Compare(a.Per/time.Duration(a.Count), b.Per/time.Duration(b.Count))
	})
	return &Limiter{
		rl:     redis_rate.NewLimiter(rdb),
		name:   name,
		limits: sorted,
	}
}

// WithPrefix returns a copy of l whose Redis keys all start with p (after
// redis_rate's own "rate:"), so that separate users of one Redis database,
// such as parallel tests, do not share counters. p is used verbatim; end it
// with a separator such as ":". l itself is unchanged.
func (l *Limiter) WithPrefix(p string) *Limiter {
	c := *l
	c.prefix = p
	return &c
}

// redisKey returns the key, without redis_rate's "rate:", holding the state
// of limit lim for key. The key is SHA-256 hashed so no address or IP is
// stored in clear.
func (l *Limiter) redisKey(lim Limit, key string) string {
	sum := sha256.Sum256([]byte(key))
	return l.prefix + "ratelimit:" + l.name + ":" + lim.Per.String() + ":" + hex.EncodeToString(sum[:])
}

// Allow records one event for key and reports whether it is within every
// limit of l. When it is not, retryAfter (positive) is how long until the
// limit that denied it allows an event again; otherwise retryAfter is 0.
//
// The key is hashed (SHA-256, hex) before it goes to Redis: the Redis key of
// each limit is "rate:" + prefix + "ratelimit:<name>:<Per>:<hex hash>",
// where <Per> is time.Duration's String form (e.g. "1m0s") and prefix is
// set by WithPrefix. Keys are compared exactly, so callers must normalise
// them: pass email addresses lower-cased.
//
// The limits are checked one after the other, most permissive rate first,
// and each check that passes counts the event against its limit at once
// (each check is atomic in Redis, the sequence is not). The first limit
// that denies the event stops the sequence: the event is not counted
// against it nor any limit after it, but stays counted against the limits
// before it. So a denied event can use up budget of the faster-refilling
// limits, which only ever makes the throttle stricter, never looser; in
// turn a retry after retryAfter may still be denied, by one of those
// limits or by a later limit that was not consulted.
//
// An error from Redis is returned as err with allowed false; the caller
// decides whether to fail open or closed. Allow gives Redis at most Timeout
// in all (on a client with ContextTimeoutEnabled, which bounds the socket
// reads too), so a Redis that hangs is an error soon, not a hung request.
func (l *Limiter) Allow(ctx context.Context, key string) (allowed bool, retryAfter time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	for _, lim := range l.limits {
		res, err := l.rl.Allow(ctx, l.redisKey(lim, key), redis_rate.Limit{
			Rate:   lim.Count,
			Burst:  lim.Count,
			Period: lim.Per,
		})
		if err != nil {
			return false, 0, fmt.Errorf("ratelimit %s: %w", l.name, err)
		}
		if res.Allowed == 0 {
			// RetryAfter is positive when denied; guard against a zero
			// from rounding so callers can rely on it.
			return false, max(res.RetryAfter, time.Millisecond), nil
		}
	}
	return true, 0, nil
}
