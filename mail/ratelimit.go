package mail

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// RateLimit is the provider's limit on emails, held by every worker
// together: each send first takes a token from one bucket in Redis. It is
// GCRA (the generic cell rate algorithm) as github.com/go-redis/redis_rate
// implements it, one Lua script per take, so any number of workers share
// it atomically; the same library holds the sign-in rate limits.
//
// Count per Per lets emails out at a steady Count/Per, with a burst of 1%
// of Count (at least 2): in any window of Per, at most Count plus that
// burst reach the provider. Transactional emails count too (the provider
// counts every email), but bulk emails may only use the bucket while half
// the burst is left, so a sign-in email always finds a token at once, or
// after one token's time when transactional emails alone fill the limit.
type RateLimit struct {
	rl    *redis_rate.Limiter
	key   string
	rate  redis_rate.Limit // for transactional emails
	bulk  redis_rate.Limit // the same rate, less burst
	count int
	per   time.Duration
}

// NewRateLimit returns the limit of count emails per per, kept in Redis
// under key (redis_rate prefixes it with "rate:").
func NewRateLimit(rdb redis.UniversalClient, key string, count int, per time.Duration) *RateLimit {
	burst := max(2, count/100)
	return &RateLimit{
		rl:    redis_rate.NewLimiter(rdb),
		key:   key,
		rate:  redis_rate.Limit{Rate: count, Period: per, Burst: burst},
		bulk:  redis_rate.Limit{Rate: count, Period: per, Burst: burst - max(1, burst/2)},
		count: count,
		per:   per,
	}
}

// Burst is how many emails beyond Count may go out in one window of Per.
func (l *RateLimit) Burst() int { return l.rate.Burst }

// maxPaceWait is the longest a bulk email waits for a token inside its
// task; beyond it the task is put back for later (RateLimitedError), so
// that waiting bulk emails do not hold every worker slot.
const maxPaceWait = 250 * time.Millisecond

// RateLimitedError is returned by a delivery that found no token: the task
// is to run again after RetryAfter. It is not a failure: the email is not
// dropped, and the attempt is not counted (see IsFailure, RetryDelay).
type RateLimitedError struct{ RetryAfter time.Duration }

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("email rate limit reached: try again in %s", e.RetryAfter)
}

// IsFailure is asynq.Config.IsFailure for the worker: a rate-limited
// delivery is put back without using up one of the task's retries.
func IsFailure(err error) bool {
	var limited *RateLimitedError
	return !errors.As(err, &limited)
}

// RetryDelay is asynq.Config.RetryDelayFunc for the worker: a rate-limited
// delivery runs again as soon as the bucket has a token for it; other
// failures back off as asynq does by default.
func RetryDelay(n int, err error, t *asynq.Task) time.Duration {
	var limited *RateLimitedError
	if errors.As(err, &limited) {
		return limited.RetryAfter
	}
	return asynq.DefaultRetryDelayFunc(n, err, t)
}

// paceN takes up to n tokens for emails of priority p, as many as the
// bucket has now, waiting for the first one: transactional emails for as
// long as ctx allows, bulk ones up to budget, beyond which they are put
// back for later (RateLimitedError). It returns how many it took and how
// long it waited. (Tokens are taken n at once, or else one at a time:
// redis_rate's AllowAtMost charges the fraction of a token it cannot
// grant, which would leave the limit partly unused.)
func (l *RateLimit) paceN(ctx context.Context, p Priority, n int, budget time.Duration) (granted int, waited time.Duration, err error) {
	limit := l.bulk
	if p.orDefault() == Transactional {
		limit = l.rate
	}
	for {
		wait, err := l.takeN(ctx, limit, n, &granted)
		if err != nil || granted > 0 {
			return granted, waited, err
		}
		wait = max(wait, time.Millisecond)
		if p.orDefault() != Transactional && waited+wait > budget {
			return 0, waited, &RateLimitedError{RetryAfter: wait}
		}
		select {
		case <-ctx.Done():
			return 0, waited, &RateLimitedError{RetryAfter: wait}
		case <-time.After(wait):
			waited += wait
		}
	}
}

// takeN adds to granted the tokens the bucket has now, up to n, and
// returns how long until it has one when it had none.
func (l *RateLimit) takeN(ctx context.Context, limit redis_rate.Limit, n int, granted *int) (time.Duration, error) {
	if n > 1 {
		res, err := l.rl.AllowN(ctx, l.key, limit, n)
		if err != nil {
			return 0, fmt.Errorf("email rate limit: %w", err)
		}
		if res.Allowed > 0 {
			*granted = n
			return 0, nil
		}
	}
	for *granted < n {
		res, err := l.rl.Allow(ctx, l.key, limit)
		if err != nil {
			return 0, fmt.Errorf("email rate limit: %w", err)
		}
		if res.Allowed == 0 {
			return res.RetryAfter, nil
		}
		*granted++
	}
	return 0, nil
}
