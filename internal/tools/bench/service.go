package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/jmoiron/sqlx"
	"github.com/redis/go-redis/v9"
)

const (
	apiToken    = "dev-api-token"
	eventsToken = "dev-account-events-token"
	issuer      = "https://account.bench.example/"
)

// redisURL is the Redis database the benchmark flushes and uses (-redis).
var redisURL = "redis://127.0.0.1:6379/11"

// service is email-alert running as three processes, as deployed.
type service struct {
	api, frontend string // base URLs
	procs         map[string]*exec.Cmd
	meter         *cpuMeter
	jwks          *httptest.Server
	key           *ecdsa.PrivateKey
	audience      string
}

func freePort() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startService(ctx context.Context, bin, database, work string) (*service, error) {
	opt, _ := redis.ParseURL(redisURL)
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	if err := rdb.FlushDB(ctx).Err(); err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		return nil, err
	}
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "bench", Algorithm: "ES256", Use: "sig"}}})
	}))
	apiAddr, feAddr := freePort(), freePort()
	s := &service{
		api: "http://" + apiAddr, frontend: "http://" + feAddr, procs: map[string]*exec.Cmd{},
		jwks: jwks, key: key, audience: "http://" + feAddr,
	}
	env := append(os.Environ(),
		"DATABASE_URL="+dbURL(database), "REDIS_URL="+redisURL,
		"API_ADDR="+apiAddr, "FRONTEND_ADDR="+feAddr, "PUBLIC_URL=http://"+feAddr,
		"ACCOUNT_EVENTS_ISSUER="+issuer, "ACCOUNT_EVENTS_JWKS_URL="+jwks.URL, "ACCOUNT_EVENTS_AUDIENCE="+s.audience,
		"EMAIL_DELIVERY=log", "WORKER_CONCURRENCY=20",
		// Each workload uses fresh addresses; the limits would otherwise
		// measure the limiter.
		"RATE_LIMIT_PER_ADDRESS=1000/minute", "RATE_LIMIT_PER_CLIENT=1000000/minute",
		// The delivery workload measures the provider's limit on its own.
		"EMAIL_RATE_LIMIT=none",
	)
	for _, name := range []string{"api", "frontend", "worker"} {
		cmd, err := startProc(bin, name, env, filepath.Join(work, name+".log"))
		if err != nil {
			return nil, err
		}
		s.procs[name] = cmd
	}
	s.meter = &cpuMeter{procs: s.procs}
	for _, url := range []string{s.api + "/healthcheck/ready", s.frontend + "/healthcheck/ready"} {
		if err := waitReady(url, 30*time.Second); err != nil {
			s.stop()
			return nil, err
		}
	}
	return s, nil
}

func (s *service) stop() {
	for _, cmd := range s.procs {
		stopProc(cmd, 25*time.Second)
	}
	s.jwks.Close()
}

func (s *service) peakRSS() map[string]float64 {
	out := map[string]float64{}
	for name, cmd := range s.procs {
		out[name] = peakRSS(cmd.Process.Pid)
	}
	return out
}

// call makes one request and returns "" or what went wrong.
func call(method, url, token, contentType string, body []byte, want int) (string, []byte) {
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return err.Error(), nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return fmt.Sprintf("%s %s: %d %s", method, url, resp.StatusCode, b), b
	}
	return "", b
}

func (s *service) readLoad(o options, subscribers int) result {
	return load("read", o.conns, o.warmup, o.duration, s.meter, s.readOp(subscribers))
}

// readPaced is the read at a steady o.readRate a second (open loop), with
// up to o.conns in flight: its latency at a load below the ceiling, which
// the closed loop of readLoad cannot show (BENCHMARKS.notes.md, change 25).
func (s *service) readPaced(o options, subscribers int) result {
	return paced(fmt.Sprintf("read, steady %d/s", o.readRate), o.readRate, o.conns, o.warmup, o.duration, s.meter, s.readOp(subscribers))
}

// readOp is one GET /subscribers/:id/subscriptions of a random subscriber.
func (s *service) readOp(subscribers int) func() op {
	addr := strings.TrimPrefix(s.api, "http://")
	return func() op {
		g, path := newGetter(addr, apiToken), []byte("/subscribers/")
		return func(rng *rand.Rand) string {
			path = append(strconv.AppendInt(path[:len("/subscribers/")], int64(1+rng.IntN(subscribers)), 10), "/subscriptions"...)
			status, err := g.get(path)
			switch {
			case err != nil:
				return fmt.Sprintf("GET %s: %v", path, err)
			case status != http.StatusOK:
				return fmt.Sprintf("GET %s: %d", path, status)
			}
			return ""
		}
	}
}

func (s *service) subscribeLoad(o options) result {
	frequencies := []string{"immediately", "daily", "weekly"}
	addr := strings.TrimPrefix(s.api, "http://")
	// The same lean client as the read (net/http's cost the load
	// generator 0.086 ms per subscribe).
	return load("subscribe", o.conns, o.warmup, o.duration, s.meter, func() op {
		g, path, body := newGetter(addr, apiToken), []byte("/subscriptions"), []byte(nil)
		return func(rng *rand.Rand) string {
			body = fmt.Appendf(body[:0], `{"address":%q,"subscriber_list_id":%d,"frequency":%q}`,
				address(1+rng.IntN(o.sizes.Subscribers)), 1+rng.IntN(o.sizes.Lists), frequencies[rng.IntN(3)])
			status, err := g.post(path, body)
			switch {
			case err != nil:
				return fmt.Sprintf("POST %s: %v", path, err)
			case status != http.StatusOK:
				return fmt.Sprintf("POST %s: %d", path, status)
			}
			return ""
		}
	})
}

var tokenInLink = regexp.MustCompile(`process\?token=([A-Za-z0-9_-]{43})`)

// magicLinkLoad asks the API for a sign-in link for an unlinked subscriber,
// takes the token from the email in the outbox (delivery is not part of
// the measurement), and redeems it on the frontend.
func (s *service) magicLinkLoad(o options) result {
	db := sqlx.MustConnect("postgres", dbURL("email_alert_bench"))
	defer db.Close()
	// The load generator's own index, for this workload alone: it reads
	// each sign-in email by address, which the service never does (without
	// the index every lookup scanned the outbox and was charged to
	// PostgreSQL). Made here, not at seeding, so the other workloads' emails
	// do not pay for it (BENCHMARKS.notes.md, change 26).
	db.MustExec(`CREATE INDEX bench_emails_address_idx ON emails (address, created_at)`)
	defer db.MustExec(`DROP INDEX bench_emails_address_idx`)
	var next atomic.Int64
	next.Store(int64(o.sizes.Linked))
	return load("magic-link sign-in", o.conns/4, o.warmup, o.duration, s.meter, shared(func(*rand.Rand) string {
		id := int(next.Add(1))
		if id > o.sizes.Subscribers {
			return "ran out of unlinked subscribers"
		}
		body := fmt.Sprintf(`{"address":%q,"destination":"/email/manage/authenticate/process"}`, address(id))
		if fail, _ := call("POST", s.api+"/subscribers/auth-token", apiToken, "application/json", []byte(body), 201); fail != "" {
			return fail
		}
		var email string
		if err := db.Get(&email, `SELECT body FROM emails WHERE address = $1 ORDER BY created_at DESC LIMIT 1`, address(id)); err != nil {
			return err.Error()
		}
		m := tokenInLink.FindStringSubmatch(email)
		if m == nil {
			return "no link in the email"
		}
		fail, _ := call("GET", s.frontend+"/email/manage/authenticate/process?token="+m[1], "", "", nil, 303)
		return fail
	}))
}

// eventResult is the account-event workload's measurements.
type eventResult struct {
	Pushed                   int
	InPerSecond              float64
	AppliedPerSecond         float64
	P99Burst                 time.Duration
	SteadyRate               float64
	P99Steady                time.Duration
	CPU                      map[string]float64
	Errors                   int
	FirstFail                string
	PushSeconds, ApplySecond float64
}

func (s *service) signSET(id int, sub string, email string) string {
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: s.key},
		(&jose.SignerOptions{}).WithType("secevent+jwt").WithHeader("kid", "bench"))
	event := map[string]any{"https://schemas.openid.net/secevent/risc/event-type/account-purged": map[string]any{}}
	if email != "" {
		event = map[string]any{"https://schemas.openid.net/secevent/risc/event-type/identifier-changed": map[string]any{"new-value": email}}
	}
	now := time.Now().Unix()
	claims, _ := json.Marshal(map[string]any{
		"iss": issuer, "aud": s.audience, "iat": now, "toe": now, "jti": fmt.Sprintf("bench-%d", id),
		"sub_id": map[string]any{"format": "iss_sub", "iss": issuer, "sub": sub}, "events": event,
	})
	jws, _ := signer.Sign(claims)
	raw, _ := jws.CompactSerialize()
	return raw
}

// eventsLoad pushes signed SETs for distinct linked accounts, half email
// changes and half deletions: first as fast as they are accepted, then at
// a steady 500/s; it waits for the worker to apply them all and reads the
// latencies from the inbox.
func (s *service) eventsLoad(ctx context.Context, db *sqlx.DB, o options) (eventResult, error) {
	sets := make([]string, o.events+o.steady)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(sets); i += 4 {
				sub := fmt.Sprintf("urn:bench:%d", i+1)
				email := ""
				if i%2 == 0 {
					email = fmt.Sprintf("changed%d@bench.example", i+1)
				}
				sets[i] = s.signSET(i, sub, email)
			}
		}()
	}
	wg.Wait()
	if len(sets) > o.sizes.Linked {
		return eventResult{}, fmt.Errorf("%d events need as many linked accounts; only %d", len(sets), o.sizes.Linked)
	}
	push := func(raw string) string {
		fail, _ := call("POST", s.api+"/account-events", eventsToken, "application/secevent+jwt", []byte(raw), 202)
		return fail
	}
	var r eventResult
	s.meter.begin()
	// Burst: as fast as accepted.
	var (
		next      atomic.Int64
		errs      atomic.Int64
		firstFail atomic.Value
	)
	start := time.Now()
	for range o.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= o.events {
					return
				}
				if fail := push(sets[i]); fail != "" {
					errs.Add(1)
					firstFail.CompareAndSwap(nil, fail)
				}
			}
		}()
	}
	wg.Wait()
	r.PushSeconds = time.Since(start).Seconds()
	r.Pushed, r.InPerSecond = o.events, float64(o.events)/r.PushSeconds
	if err := waitApplied(ctx, db, o.events, 10*time.Minute); err != nil {
		return r, err
	}
	r.CPU = s.meter.end()
	var window struct {
		Seconds float64 `db:"seconds"`
		P99     float64 `db:"p99"`
	}
	if err := db.GetContext(ctx, &window, `
		SELECT extract(epoch FROM max(processed_at) - min(received_at)) AS seconds,
		       percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM processed_at - received_at)) AS p99
		FROM account_events`); err != nil {
		return r, err
	}
	r.ApplySecond, r.AppliedPerSecond = window.Seconds, float64(o.events)/window.Seconds
	r.P99Burst = time.Duration(window.P99 * float64(time.Second))

	// Steady: 500 per second, for o.steady events.
	began := time.Now()
	tick := time.NewTicker(2 * time.Millisecond)
	for i := o.events; i < len(sets); i++ {
		<-tick.C
		wg.Add(1)
		go func() {
			defer wg.Done()
			if fail := push(sets[i]); fail != "" {
				errs.Add(1)
				firstFail.CompareAndSwap(nil, fail)
			}
		}()
	}
	tick.Stop()
	wg.Wait()
	r.SteadyRate = float64(o.steady) / time.Since(began).Seconds()
	if err := waitApplied(ctx, db, len(sets), 5*time.Minute); err != nil {
		return r, err
	}
	var p99 float64
	if err := db.GetContext(ctx, &p99, `
		SELECT percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM processed_at - received_at))
		FROM account_events WHERE received_at >= $1`, began); err != nil {
		return r, err
	}
	r.P99Steady = time.Duration(p99 * float64(time.Second))
	r.Errors = int(errs.Load())
	if f, ok := firstFail.Load().(string); ok {
		r.FirstFail = f
	}
	return r, nil
}

// waitApplied waits until none of the want events stored is pending. It
// counts the pending ones only, through the inbox's partial index: counting
// the done ones scanned the whole inbox twenty times a second, and that
// was charged to PostgreSQL.
func waitApplied(ctx context.Context, db *sqlx.DB, want int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		var stored, pending int
		if err := db.GetContext(ctx, &pending, `SELECT count(*) FROM account_events WHERE status = 'pending'`); err != nil {
			return err
		}
		if pending == 0 {
			var failed int
			err := db.GetContext(ctx, &stored, `SELECT count(*) FROM account_events`)
			if err == nil {
				err = db.GetContext(ctx, &failed, `SELECT count(*) FROM account_events WHERE status = 'failed'`)
			}
			switch {
			case err != nil:
				return err
			case stored < want:
				return fmt.Errorf("only %d of %d events stored", stored, want)
			case failed > 0:
				return fmt.Errorf("%d events failed", failed)
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d events still pending after %s", pending, want, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// drainOutbox waits until the worker has delivered every email in the
// outbox, and returns how many were left and how long that took.
func drainOutbox(ctx context.Context, db *sqlx.DB) (int, time.Duration, error) {
	const unfinished = `SELECT count(*) FROM emails WHERE status IN ('pending', 'sending')`
	start := time.Now()
	var backlog int
	if err := db.GetContext(ctx, &backlog, unfinished); err != nil {
		return 0, 0, fmt.Errorf("outbox: %w", err)
	}
	for left := backlog; left > 0; {
		if time.Since(start) > 5*time.Minute {
			return backlog, 0, fmt.Errorf("outbox: %d emails still undelivered after 5 minutes", left)
		}
		time.Sleep(50 * time.Millisecond)
		if err := db.GetContext(ctx, &left, unfinished); err != nil {
			return 0, 0, fmt.Errorf("outbox: %w", err)
		}
	}
	return backlog, time.Since(start), nil
}
