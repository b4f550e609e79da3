// Package redisloss notices when Redis has lost the data it held (a
// FLUSHALL, a restart without persistence, a Sentinel failover that dropped
// the old master's last writes, an outage during which enqueues failed) and
// has the work PostgreSQL still holds as unfinished queued again at once,
// instead of at the next minute sweep. Every few seconds it also looks for
// unfinished work a few seconds old that was never queued, a bounded batch
// at a time. Re-enqueueing live work is harmless: every task carries an
// asynq TaskID, so a task still in Redis is not queued twice.
//
// It sees a loss by three signs, checked every second: Redis's run_id
// changed (a restart, or a failover to another server), the epoch key it
// keeps in Redis is gone or holds another value (a flush: whoever notices
// first writes a new one, and every worker sees it change), or Redis could
// not be reached at the previous check.
package redisloss

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Requeue puts back into Redis the unfinished work of one kind that was
// last touched more than olderThan ago (0: all of it), at most limit items
// (0: no limit), and returns how many it handed over. The sweeps of the
// email outbox and of the event inbox have this shape; a new kind of job
// row (alerts) adds its own with Watcher.Add.
type Requeue func(ctx context.Context, olderThan time.Duration, limit int) (int, error)

// Watcher watches one Redis and runs its Requeues on a loss.
type Watcher struct {
	rdb      redis.UniversalClient
	key      string
	requeues []named

	// CheckEvery is how often Redis is checked (default 1 s); SweepEvery
	// how often the bounded sweep runs (5 s), for work older than SweepAge
	// (5 s), at most SweepLimit items per kind (1,000).
	CheckEvery time.Duration
	SweepEvery time.Duration
	SweepAge   time.Duration
	SweepLimit int

	runID   string // as last seen; "" before the first check
	epoch   string
	missed  bool // the previous check could not reach Redis
	checked bool
}

type named struct {
	name string
	fn   Requeue
}

// New returns a watcher keeping its epoch under key in rdb.
func New(rdb redis.UniversalClient, key string) *Watcher {
	return &Watcher{
		rdb: rdb, key: key,
		CheckEvery: time.Second, SweepEvery: 5 * time.Second, SweepAge: 5 * time.Second, SweepLimit: 1000,
	}
}

// Add has fn run on every loss and every bounded sweep, after the ones
// added before it: add the most urgent work first.
func (w *Watcher) Add(name string, fn Requeue) {
	w.requeues = append(w.requeues, named{name, fn})
}

// Check looks at Redis once and reports whether it lost its data since the
// previous check. The first check only learns how Redis looks.
func (w *Watcher) Check(ctx context.Context) (lost bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	runID, epoch, err := w.look(ctx)
	if err != nil {
		w.missed = w.checked
		return false, err
	}
	lost = w.checked && (w.missed || runID != w.runID || epoch != w.epoch)
	w.runID, w.epoch, w.missed, w.checked = runID, epoch, false, true
	return lost, nil
}

// look reads Redis's run_id and the epoch, writing a new epoch if there is
// none.
func (w *Watcher) look(ctx context.Context) (runID, epoch string, err error) {
	info, err := w.rdb.Info(ctx, "server").Result()
	if err != nil {
		return "", "", fmt.Errorf("redis info: %w", err)
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "run_id:"); ok {
			runID = v
		}
	}
	if runID == "" {
		return "", "", errors.New("redis info: no run_id")
	}
	fresh := make([]byte, 16)
	_, _ = rand.Read(fresh)
	var get *redis.StringCmd
	_, err = w.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.SetNX(ctx, w.key, hex.EncodeToString(fresh), 0)
		get = p.Get(ctx, w.key)
		return nil
	})
	if err != nil {
		return "", "", fmt.Errorf("redis epoch: %w", err)
	}
	return runID, get.Val(), nil
}

// Recover runs every Requeue on all the unfinished work, in the order they
// were added: at start, and when Redis lost its data.
func (w *Watcher) Recover(ctx context.Context) {
	w.run(ctx, "recovery", 0, 0)
}

func (w *Watcher) run(ctx context.Context, what string, olderThan time.Duration, limit int) {
	for _, r := range w.requeues {
		n, err := r.fn(ctx, olderThan, limit)
		if err != nil && ctx.Err() == nil {
			slog.WarnContext(ctx, "requeue "+what, "work", r.name, "enqueued", n, "error", err)
			continue
		}
		if n > 0 {
			slog.InfoContext(ctx, "requeue "+what, "work", r.name, "enqueued", n)
		}
	}
}

// Watch checks Redis every CheckEvery and runs Recover on a loss, and the
// bounded sweep every SweepEvery, until ctx ends.
func (w *Watcher) Watch(ctx context.Context) {
	check := time.NewTicker(w.CheckEvery)
	defer check.Stop()
	sweep := time.NewTicker(w.SweepEvery)
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-check.C:
			lost, err := w.Check(ctx)
			if err != nil && ctx.Err() == nil {
				slog.WarnContext(ctx, "redis check", "error", err)
			}
			if lost {
				slog.WarnContext(ctx, "redis lost its data: queueing the unfinished work again")
				w.Recover(ctx)
			}
		case <-sweep.C:
			w.run(ctx, "sweep", w.SweepAge, w.SweepLimit)
		}
	}
}
