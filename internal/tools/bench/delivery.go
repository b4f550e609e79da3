package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"email-alert/internal/testkit/testrig/proc"
)

// deliveryCase is one delivery measurement: workers worker processes
// delivering a backlog of emails to a fake Notify that answers after
// latency, under EMAIL_RATE_LIMIT limit ("none": lifted).
type deliveryCase struct {
	Workers int
	Latency time.Duration
	Limit   string
	PerSec  float64 // the limit as a rate, 0 when lifted
}

// deliveryResult is what one deliveryCase measured.
type deliveryResult struct {
	deliveryCase
	Emails     int
	Rate       float64 // emails per second reaching Notify, the first 5% (the burst) left out
	MaxWindow  int     // most emails reaching Notify in any 60 s window
	Duplicates int
	Seconds    float64
}

// deliveryCases are the cases the benchmark measures: one worker with the
// limit lifted, without and with a provider latency of 100 ms, then two
// workers at Notify's 24,000 a minute.
func deliveryCases() []deliveryCase {
	return []deliveryCase{
		{Workers: 1, Latency: 0, Limit: "none"},
		{Workers: 1, Latency: 100 * time.Millisecond, Limit: "none"},
		{Workers: 2, Latency: 0, Limit: "24000/minute", PerSec: 400},
	}
}

// deliveryLoad fills a fresh database's outbox with emails bulk emails
// that carry their body (not alerts: those are rendered at send time from
// a content change, which a bare row lacks, so they would never be sent),
// starts the case's workers against a fake Notify, and measures until
// every email has reached it.
func deliveryLoad(ctx context.Context, bin, database, work string, emails, concurrency int, c deliveryCase) (deliveryResult, error) {
	res := deliveryResult{deliveryCase: c, Emails: emails}
	db, err := freshDB(ctx, database)
	if err != nil {
		return res, err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `
		INSERT INTO emails (kind, address, subject, body, priority)
		SELECT 'subscribed', 'reader' || g || '@bench.example', 'Update from GOV.UK', repeat('x', 800), 'normal'
		FROM generate_series(1, $1) g`, emails); err != nil {
		return res, err
	}
	opt, _ := redis.ParseURL(redisURL)
	rdb := redis.NewClient(opt)
	err = rdb.FlushDB(ctx).Err()
	rdb.Close()
	if err != nil {
		return res, fmt.Errorf("redis: %w", err)
	}
	notify := &proc.Notify{Latency: c.Latency}
	server := httptest.NewServer(notify)
	defer server.Close()
	env := append(os.Environ(),
		"DATABASE_URL="+dbURL(database), "REDIS_URL="+redisURL,
		"EMAIL_DELIVERY=notify", "NOTIFY_BASE_URL="+server.URL,
		"NOTIFY_API_KEY=bench-"+uuid.NewString()+"-"+uuid.NewString(), "NOTIFY_TEMPLATE_ID="+uuid.NewString(),
		"EMAIL_RATE_LIMIT="+c.Limit, fmt.Sprintf("WORKER_CONCURRENCY=%d", concurrency),
	)
	var workers []*exec.Cmd
	defer func() {
		for _, cmd := range workers {
			stopProc(cmd, 25*time.Second)
		}
	}()
	start := time.Now()
	for i := range c.Workers {
		cmd, err := startProc(bin, "worker", env, filepath.Join(work, fmt.Sprintf("delivery-worker-%d.log", i)))
		if err != nil {
			return res, err
		}
		workers = append(workers, cmd)
	}
	notified := func() int { n, _ := notify.Total(); return n }
	limit := time.Duration(emails/100+120) * time.Second // far beyond 100/s: something is wrong
	for notified() < emails {
		if time.Since(start) > limit {
			return res, fmt.Errorf("delivery: %d of %d emails reached Notify in %s", notified(), emails, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}

	var all []time.Time
	for _, ts := range notify.Arrivals() {
		all = append(all, ts...)
		res.Duplicates += len(ts) - 1
	}
	slices.SortFunc(all, func(a, b time.Time) int { return a.Compare(b) })
	skip := len(all) / 20
	if span := all[len(all)-1].Sub(all[skip]).Seconds(); span > 0 {
		res.Rate = float64(len(all)-1-skip) / span
	}
	res.Seconds = all[len(all)-1].Sub(all[0]).Seconds()
	for i, j := 0, 0; i < len(all); i++ {
		for j < len(all) && all[j].Sub(all[i]) < time.Minute {
			j++
		}
		res.MaxWindow = max(res.MaxWindow, j-i)
	}
	return res, nil
}

// deliveryTargets are the goals of the delivery workload.
func deliveryTargets(results []deliveryResult) []target {
	var t []target
	for _, r := range results {
		name := fmt.Sprintf("delivery, %d worker(s), %s latency, limit %s", r.Workers, r.Latency, r.Limit)
		switch {
		case r.PerSec > 0:
			off := 100 * (r.Rate - r.PerSec) / r.PerSec
			t = append(t, target{name, fmt.Sprintf("within 2%% of %.0f/s", r.PerSec),
				fmt.Sprintf("%.0f/s (%+.1f%%)", r.Rate, off), off >= -2 && off <= 2})
		case r.Latency == 0:
			t = append(t, target{name, "≥ 2,000/s", fmt.Sprintf("%.0f/s", r.Rate), r.Rate >= 2000})
		default:
			t = append(t, target{name, "≥ 1,000/s", fmt.Sprintf("%.0f/s", r.Rate), r.Rate >= 1000})
		}
	}
	return t
}

// deliveryMarkdown renders the delivery results as a section of
// BENCHMARKS.md.
func deliveryMarkdown(results []deliveryResult, concurrency int) string {
	s := "### Email delivery\n\n" +
		"| workers | Notify latency | EMAIL_RATE_LIMIT | emails | delivered/s (after the first 5%) | most in any 60 s | sent twice |\n" +
		"|---:|---:|---|---:|---:|---:|---:|\n"
	for _, r := range results {
		s += fmt.Sprintf("| %d | %s | %s | %d | %.0f | %d | %d |\n", r.Workers, r.Latency, r.Limit, r.Emails, r.Rate, r.MaxWindow, r.Duplicates)
	}
	return s + fmt.Sprintf("\nA backlog of bulk emails (priority normal, as alerts are) in the outbox, delivered by `email-alert worker` processes (WORKER_CONCURRENCY=%d) to a fake GOV.UK Notify in the benchmark that answers each send after the latency shown. Each task carries up to 50 emails, claimed and recorded with one statement each and sent side by side; no PostgreSQL connection is held during a send (the locks are in one session per worker).\n", concurrency)
}
