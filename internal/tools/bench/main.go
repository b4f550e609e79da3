// Command bench measures email-alert at GOV.UK scale on this machine and
// writes BENCHMARKS.md: it seeds its own databases with COPY, runs the api,
// frontend and worker as separate processes, drives them over HTTP from
// this process, measures PostgreSQL's own ceiling with pgbench the same
// way (same connection count), and reports every figure with
// its ratio to that ceiling, CPU per request and peak RSS per process.
//
//	go run ./internal/tools/bench            # the full run (make bench)
//	go run ./internal/tools/bench -quick     # small sizes, a few seconds each
//	go run ./internal/tools/bench -delivery-only -delivery-emails 5000
//	                                   # only the email delivery workload
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq"

	"email-alert/internal/testkit/testrig/proc"
	"email-alert/migrations"
)

type options struct {
	sizes            seedSizes
	small            int
	conns            int
	warmup, duration time.Duration
	events, steady   int
	readRate         int
	out              string
	// The delivery workload: emails in the backlog of each case, and each
	// worker's WORKER_CONCURRENCY.
	deliveryEmails, deliveryConcurrency int
	// The matching comparison: lists seeded, content changes asked.
	matchLists, matchChanges int
}

func main() {
	var o options
	quick := flag.Bool("quick", false, "small sizes and short runs, to try the benchmark itself")
	flag.IntVar(&o.sizes.Subscribers, "subscribers", 1_000_000, "subscribers to seed")
	flag.IntVar(&o.sizes.Lists, "lists", 200, "subscriber lists")
	flag.IntVar(&o.sizes.PerSubscriber, "per-subscriber", 3, "subscriptions per subscriber")
	flag.IntVar(&o.sizes.Linked, "linked", 250_000, "subscribers linked to accounts")
	flag.IntVar(&o.small, "small", 10_000, "subscribers in the small database (growth comparison)")
	flag.IntVar(&o.conns, "conns", 32, "concurrent connections")
	flag.DurationVar(&o.warmup, "warmup", 3*time.Second, "warm-up before each measurement")
	flag.DurationVar(&o.duration, "duration", 15*time.Second, "each measurement")
	flag.IntVar(&o.events, "events", 100_000, "account events pushed as fast as accepted")
	flag.IntVar(&o.steady, "steady", 10_000, "account events pushed at a steady 500/s")
	flag.IntVar(&o.readRate, "read-rate", 1_000, "reads a second of the steady (open-loop) read")
	flag.StringVar(&o.out, "out", "BENCHMARKS.md", "report to write")
	flag.IntVar(&o.deliveryEmails, "delivery-emails", 30_000, "emails in the backlog of each delivery case")
	flag.IntVar(&o.deliveryConcurrency, "delivery-concurrency", 36, "WORKER_CONCURRENCY of the delivery workload (the pool has 40 connections)")
	deliveryOnly := flag.Bool("delivery-only", false, "run only the email delivery workload and print its figures")
	flag.StringVar(&redisURL, "redis", redisURL, "Redis database the benchmark flushes and uses")
	flag.IntVar(&o.matchLists, "matching-lists", 100_000, "subscriber lists in the matching comparison")
	flag.IntVar(&o.matchChanges, "matching-changes", 1_000, "content changes matched in the matching comparison")
	matchingOnly := flag.Bool("matching-only", false, "measure only list matching (jsonb or a normalised table) and print the section")
	alertsOnly := flag.Int("alerts", 0, "measure only the alert workloads, at this many subscribers per list, and print the section")
	readOnly := flag.Bool("read-only", false, "measure only the read, closed loop and at -read-rate (in its own database, -subscribers as given), and print its figures")
	eventsOnly := flag.Bool("events-only", false, "measure only account events (in their own database, -subscribers and -linked as given) and print their figures")
	flag.Parse()
	ctx := context.Background()
	if *matchingOnly {
		printSection(matchingBench(ctx, o.matchLists, o.matchChanges))
		return
	}
	if *alertsOnly > 0 {
		printSection(alertsBench(ctx, *alertsOnly))
		return
	}
	if *quick {
		o.sizes = seedSizes{Subscribers: 20_000, Lists: 200, PerSubscriber: 3, Linked: 8_000}
		o.small, o.warmup, o.duration, o.events, o.steady = 2_000, time.Second, 3*time.Second, 2_000, 1_000
		o.deliveryEmails = 3_000
		o.matchLists, o.matchChanges = 10_000, 200
	}
	if *deliveryOnly {
		exitOn(runDelivery(ctx, o))
		return
	}
	if *eventsOnly {
		exitOn(runEvents(ctx, o))
		return
	}
	if *readOnly {
		exitOn(runRead(ctx, o))
		return
	}
	exitOn(run(ctx, o))
}

// printSection prints a workload's report section, or stops on its error.
func printSection(section string, err error) {
	exitOn(err)
	fmt.Print(section)
}

// exitOn stops the benchmark with err, if there is one.
func exitOn(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// buildService builds the service's binary into a new work directory,
// which remove deletes.
func buildService() (work, bin string, remove func(), err error) {
	work, err = os.MkdirTemp("", "email-alert-bench-")
	if err != nil {
		return "", "", nil, err
	}
	remove = func() { os.RemoveAll(work) }
	step("building the service")
	if bin, err = proc.BuildBinary(work); err != nil {
		remove()
		return "", "", nil, err
	}
	return work, bin, remove, nil
}

func run(ctx context.Context, o options) error {
	work, bin, remove, err := buildService()
	if err != nil {
		return err
	}
	defer remove()

	r := &report{opts: o, started: time.Now()}
	big, err := freshDB(ctx, "email_alert_bench")
	if err != nil {
		return err
	}
	defer big.Close()
	step(fmt.Sprintf("seeding %d subscribers, %d subscriptions over %d lists, %d linked accounts",
		o.sizes.Subscribers, o.sizes.Subscribers*o.sizes.PerSubscriber, o.sizes.Lists, o.sizes.Linked))
	if r.seedTime, err = seed(ctx, big, o.sizes, "large"); err != nil {
		return err
	}

	step("measuring PostgreSQL's ceiling with pgbench")
	if r.pgSelect, r.pgInsert, err = pgbenchCeiling(ctx, o); err != nil {
		return err
	}
	step("measuring the floor of a subscription's SQL with pgbench")
	if r.floorSubscribe, r.floorSubscribeSent, err = pgbenchSubscribeFloor(ctx, o); err != nil {
		return err
	}

	svc, err := startService(ctx, bin, "email_alert_bench", work)
	if err != nil {
		return err
	}
	defer svc.stop()

	step("read: GET /subscribers/:id/subscriptions")
	r.read = svc.readLoad(o, o.sizes.Subscribers)
	step(fmt.Sprintf("read at a steady %d/s", o.readRate))
	r.readPaced = svc.readPaced(o, o.sizes.Subscribers)
	step("subscribe: POST /subscriptions")
	r.subscribe = svc.subscribeLoad(o)
	// Each new subscription emails; let the worker finish them before the
	// next workload, and report how far behind it was.
	if r.subscribeBacklog, r.subscribeDrain, err = drainOutbox(ctx, big); err != nil {
		return err
	}
	step("magic-link sign-in: request and redemption")
	r.magic = svc.magicLinkLoad(o)
	step(fmt.Sprintf("account events: %d as fast as accepted, then %d at 500/s", o.events, o.steady))
	if r.events, err = svc.eventsLoad(ctx, big, o); err != nil {
		return err
	}
	r.rss = svc.peakRSS()
	svc.stop()

	if r.delivery, err = deliveryCasesLoad(ctx, bin, work, o); err != nil {
		return err
	}

	small, err := freshDB(ctx, "email_alert_bench_small")
	if err != nil {
		return err
	}
	defer small.Close()
	step(fmt.Sprintf("seeding the small database: %d subscribers", o.small))
	if _, err := seed(ctx, small, seedSizes{Subscribers: o.small, Lists: o.sizes.Lists, PerSubscriber: o.sizes.PerSubscriber}, "small"); err != nil {
		return err
	}
	svcSmall, err := startService(ctx, bin, "email_alert_bench_small", work)
	if err != nil {
		return err
	}
	step("read at the small size")
	r.readSmall = svcSmall.readLoad(o, o.small)
	svcSmall.stop()

	// The machine's own speed can move during a run (it is a virtual
	// machine on a shared host): measure the ceiling again, and report
	// how far it moved.
	step("measuring PostgreSQL's ceiling again")
	if r.pgSelectAfter, err = pgbenchSelect(ctx, o); err != nil {
		return err
	}

	alertsSection, err := alertsBench(ctx, o.sizes.Subscribers)
	if err != nil {
		return err
	}
	matchingSection, err := matchingBench(ctx, o.matchLists, o.matchChanges)
	if err != nil {
		return err
	}

	r.finished = time.Now()
	if err := os.WriteFile(o.out, []byte(r.markdown()+"\n"+alertsSection+"\n"+matchingSection), 0o644); err != nil {
		return err
	}
	step("wrote " + o.out)
	fmt.Print(r.summary())
	return nil
}

// runDelivery runs only the delivery workload and prints its figures.
func runDelivery(ctx context.Context, o options) error {
	work, bin, remove, err := buildService()
	if err != nil {
		return err
	}
	defer remove()
	results, err := deliveryCasesLoad(ctx, bin, work, o)
	if err != nil {
		return err
	}
	fmt.Print(deliveryMarkdown(results, o.deliveryConcurrency))
	for _, t := range deliveryTargets(results) {
		fmt.Printf("%-60s %-24s %18s  %v\n", t.What, t.Goal, t.Got, t.Met)
	}
	return nil
}

// runEvents runs only the account events workload, in a database of its
// own, and prints its figures.
func runEvents(ctx context.Context, o options) error {
	work, bin, remove, err := buildService()
	if err != nil {
		return err
	}
	defer remove()
	db, err := freshDB(ctx, "email_alert_bench_events")
	if err != nil {
		return err
	}
	defer db.Close()
	step(fmt.Sprintf("seeding %d subscribers, %d linked accounts", o.sizes.Subscribers, o.sizes.Linked))
	if _, err := seed(ctx, db, o.sizes, "events"); err != nil {
		return err
	}
	svc, err := startService(ctx, bin, "email_alert_bench_events", work)
	if err != nil {
		return err
	}
	defer svc.stop()
	step(fmt.Sprintf("account events: %d as fast as accepted, then %d at 500/s", o.events, o.steady))
	res, err := svc.eventsLoad(ctx, db, o)
	if err != nil {
		return err
	}
	fmt.Printf("in %.0f/s (%d in %.1f s), applied %.0f/s, p99 burst %s, p99 steady %s at %.0f/s, errors %d %s\n",
		res.InPerSecond, res.Pushed, res.PushSeconds, res.AppliedPerSecond, ms(res.P99Burst), ms(res.P99Steady), res.SteadyRate, res.Errors, res.FirstFail)
	fmt.Print("CPU ms per event:")
	for _, k := range sortedKeys(res.CPU) {
		fmt.Printf(" %s %.3f;", k, 1000*res.CPU[k]/float64(res.Pushed))
	}
	fmt.Println()
	for k, v := range svc.peakRSS() {
		fmt.Printf("peak RSS %s %.0f MB\n", k, v)
	}
	return nil
}

// runRead runs only the read, closed loop and then at a steady rate, in a
// database of its own, and prints their figures.
func runRead(ctx context.Context, o options) error {
	work, bin, remove, err := buildService()
	if err != nil {
		return err
	}
	defer remove()
	db, err := freshDB(ctx, "email_alert_bench_read")
	if err != nil {
		return err
	}
	defer db.Close()
	step(fmt.Sprintf("seeding %d subscribers", o.sizes.Subscribers))
	if _, err := seed(ctx, db, o.sizes, "read"); err != nil {
		return err
	}
	svc, err := startService(ctx, bin, "email_alert_bench_read", work)
	if err != nil {
		return err
	}
	defer svc.stop()
	step("read: GET /subscribers/:id/subscriptions, closed loop")
	closed := svc.readLoad(o, o.sizes.Subscribers)
	step(fmt.Sprintf("read at a steady %d/s", o.readRate))
	steady := svc.readPaced(o, o.sizes.Subscribers)
	for _, res := range []result{closed, steady} {
		fmt.Printf("%s: %.0f/s, p50 %s, p99 %s, errors %d %s; CPU ms per read:", res.Name, res.RPS, ms(res.P50), ms(res.P99), res.Errors, res.FirstFail)
		for _, k := range sortedKeys(res.CPU) {
			fmt.Printf(" %s %.3f;", k, 1000*res.CPU[k]/float64(max(res.Requests, 1)))
		}
		fmt.Println()
	}
	for k, v := range svc.peakRSS() {
		fmt.Printf("peak RSS %s %.0f MB\n", k, v)
	}
	return nil
}

// deliveryCasesLoad measures every delivery case in turn.
func deliveryCasesLoad(ctx context.Context, bin, work string, o options) ([]deliveryResult, error) {
	var results []deliveryResult
	for _, c := range deliveryCases() {
		step(fmt.Sprintf("delivery: %d emails, %d worker(s), Notify latency %s, EMAIL_RATE_LIMIT=%s", o.deliveryEmails, c.Workers, c.Latency, c.Limit))
		res, err := deliveryLoad(ctx, bin, "email_alert_bench_delivery", work, o.deliveryEmails, o.deliveryConcurrency, c)
		if err != nil {
			return nil, err
		}
		results = append(results, res)
	}
	return results, nil
}

func step(s string) { fmt.Fprintf(os.Stderr, "bench: %s\n", s) }

// adminURL connects to the server's postgres database as the service's
// default DATABASE_URL does: lib/pq's default host is localhost, so over
// loopback TCP. (pgbench, with no -h, uses the Unix socket. Measured on
// this machine, the service over the socket was slower, not faster:
// BENCHMARKS.notes.md, change 22.)
const adminURL = "postgres:///postgres?sslmode=disable"

func dbURL(name string) string { return "postgres:///" + name + "?sslmode=disable" }

// freshDB drops and recreates database name and migrates it.
func freshDB(ctx context.Context, name string) (*sqlx.DB, error) {
	admin, err := sqlx.ConnectContext(ctx, "postgres", adminURL)
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL: %w (run `make services`)", err)
	}
	defer admin.Close()
	for _, q := range []string{`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`, `CREATE DATABASE ` + name} {
		if _, err := admin.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("%s: %w", q, err)
		}
	}
	db, err := sqlx.ConnectContext(ctx, "postgres", dbURL(name))
	if err != nil {
		return nil, err
	}
	if _, err := migrations.Up(ctx, db.DB); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// pgbenchCeiling runs pgbench select-only and a one-row insert script with
// the benchmark's connection count, over the Unix socket.
func pgbenchCeiling(ctx context.Context, o options) (selectTPS, insertTPS float64, err error) {
	db, err := freshDB(ctx, "email_alert_pgbench")
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE TABLE bench_insert (id bigserial PRIMARY KEY, v text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return 0, 0, err
	}
	if out, err := exec.CommandContext(ctx, "pgbench", "-i", "-q", "-s", "10", "email_alert_pgbench").CombinedOutput(); err != nil {
		return 0, 0, fmt.Errorf("pgbench -i: %w\n%s", err, out)
	}
	if _, err := db.ExecContext(ctx, `CHECKPOINT`); err != nil {
		return 0, 0, err
	}
	script := filepath.Join(os.TempDir(), "email-alert-insert.sql")
	if err := os.WriteFile(script, []byte("INSERT INTO bench_insert (v) VALUES ('x');\n"), 0o644); err != nil {
		return 0, 0, err
	}
	defer os.Remove(script)
	if selectTPS, err = pgbenchSelect(ctx, o); err != nil {
		return 0, 0, err
	}
	insertTPS, err = pgbench(ctx, "-n", "-f", script, "-c", fmt.Sprint(o.conns), "-j", "2",
		"-T", fmt.Sprint(int(o.duration.Seconds())), "email_alert_pgbench")
	return selectTPS, insertTPS, err
}

// The core of a subscription's SQL as the service is built, for
// pgbenchSubscribeFloor: insert it and its email in one statement, and
// mark an email sent.
const (
	floorSubscribeSQL = `\set s random(1, 100000)
\set l random(1, 200)
WITH s AS (
  INSERT INTO subscriptions (subscriber_id, subscriber_list_id, frequency, source)
  VALUES (:s, :l, 'daily', 'user_signed_up') ON CONFLICT DO NOTHING
) INSERT INTO emails (kind, address, subject, body)
  VALUES ('subscribed', 'floor' || :s || '@bench.example', 'You have subscribed', repeat('x', 800));
`
	floorSentSQL = `UPDATE emails SET status = 'sent', sent_at = now(), updated_at = now()
WHERE id = (SELECT id FROM emails WHERE status = 'pending' ORDER BY txid LIMIT 1 FOR UPDATE SKIP LOCKED);
`
)

// pgbenchSubscribeFloor measures, in the database pgbenchCeiling made
// (migrated: the service's tables with their indexes, foreign keys and
// triggers), how many subscriptions per second PostgreSQL takes when a
// client does only the core of POST /subscriptions as the service is
// built: insert the subscription and its email, in one statement; then
// the same while each email is also marked sent, one by one as the worker
// delivers them. No HTTP, no Go, no Redis, no audit or unsubscribe token:
// built this way, the service cannot go faster.
func pgbenchSubscribeFloor(ctx context.Context, o options) (alone, withSent float64, err error) {
	db, err := sqlx.ConnectContext(ctx, "postgres", dbURL("email_alert_pgbench"))
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	for _, q := range []string{
		`INSERT INTO subscriber_lists (slug, title) SELECT 'floor-' || g, 'Floor list ' || g FROM generate_series(1, 200) g`,
		`INSERT INTO subscribers (address) SELECT 'floor' || g || '@bench.example' FROM generate_series(1, 100000) g`,
		`ANALYZE`, `CHECKPOINT`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return 0, 0, fmt.Errorf("%s: %w", q, err)
		}
	}
	dir, err := os.MkdirTemp("", "email-alert-floor-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	subscribe, sent := filepath.Join(dir, "subscribe.sql"), filepath.Join(dir, "sent.sql")
	if err := os.WriteFile(subscribe, []byte(floorSubscribeSQL), 0o644); err != nil {
		return 0, 0, err
	}
	if err := os.WriteFile(sent, []byte(floorSentSQL), 0o644); err != nil {
		return 0, 0, err
	}
	common := []string{"-n", "-c", fmt.Sprint(o.conns), "-j", "2", "-T", fmt.Sprint(int(o.duration.Seconds()))}
	if alone, err = pgbench(ctx, append(common, "-f", subscribe, "email_alert_pgbench")...); err != nil {
		return 0, 0, err
	}
	// Two scripts of equal weight: the subscriptions are the first's share.
	out, err := exec.CommandContext(ctx, "pgbench", append(common, "-f", subscribe+"@1", "-f", sent+"@1", "email_alert_pgbench")...).CombinedOutput()
	if err != nil {
		return 0, 0, fmt.Errorf("pgbench (subscribe and sent): %w\n%s", err, out)
	}
	withSent, err = scriptTPS(string(out), 1)
	return alone, withSent, err
}

// scriptTPS reads the tps of script n (from 1) from pgbench's output with
// several scripts.
func scriptTPS(out string, n int) (float64, error) {
	_, rest, found := strings.Cut(out, fmt.Sprintf("SQL script %d:", n))
	if found {
		if _, after, ok := strings.Cut(rest, "tps = "); ok {
			var tps float64
			if _, err := fmt.Sscanf(after, "%f", &tps); err == nil {
				return tps, nil
			}
		}
	}
	return 0, fmt.Errorf("pgbench printed no tps for script %d:\n%s", n, out)
}

// pgbenchSelect runs pgbench select-only on the database pgbenchCeiling
// made.
func pgbenchSelect(ctx context.Context, o options) (float64, error) {
	return pgbench(ctx, "-n", "-S", "-c", fmt.Sprint(o.conns), "-j", "2",
		"-T", fmt.Sprint(int(o.duration.Seconds())), "email_alert_pgbench")
}

func pgbench(ctx context.Context, args ...string) (float64, error) {
	out, err := exec.CommandContext(ctx, "pgbench", args...).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("pgbench %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "tps = ") {
			var tps float64
			if _, err := fmt.Sscanf(line, "tps = %f", &tps); err == nil {
				return tps, nil
			}
		}
	}
	return 0, fmt.Errorf("pgbench printed no tps:\n%s", out)
}
