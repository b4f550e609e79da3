package app_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"email-alert/events"
	"email-alert/frontend"
	"email-alert/internal/testkit/settest"
	"email-alert/internal/testkit/testrig/proc"
)

// faultEnv is the environment of the service processes of a fault test:
// the api and frontend on ports of their own, with the tokens below.
type faultEnv struct {
	*proc.Env
	api, frontend string // base URLs
}

const (
	faultAPIToken    = "fault-test-api-token"
	faultEventsToken = "fault-test-events-token"
	faultIssuer      = "https://account.fault.test/"
)

func newFaultEnv(t *testing.T, dsn, redisURL, jwksURL string, notify *proc.Notify) *faultEnv {
	t.Helper()
	apiAddr, frontendAddr := proc.FreeAddr(t), proc.FreeAddr(t)
	e := &faultEnv{api: "http://" + apiAddr, frontend: "http://" + frontendAddr}
	e.Env = proc.NewEnv(t, append(notify.Env(),
		"DATABASE_URL="+dsn,
		"REDIS_URL="+redisURL,
		"API_ADDR="+apiAddr,
		"FRONTEND_ADDR="+frontendAddr,
		"PUBLIC_URL="+e.frontend,
		"API_TOKENS="+faultAPIToken,
		"ACCOUNT_EVENTS_TOKEN="+faultEventsToken,
		"ACCOUNT_EVENTS_ISSUER="+faultIssuer,
		"ACCOUNT_EVENTS_JWKS_URL="+jwksURL,
		"ACCOUNT_EVENTS_AUDIENCE="+e.frontend,
		"WORKER_CONCURRENCY=20",
	)...)
	return e
}

// eventSigner signs Security Event Tokens as the account service, whose
// keys a JWKS server publishes.
type eventSigner struct {
	key      *ecdsa.PrivateKey
	audience string
}

func newEventSigner(t *testing.T) (*eventSigner, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: key.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"},
		}})
	}))
	t.Cleanup(jwks.Close)
	return &eventSigner{key: key}, jwks.URL
}

func (s *eventSigner) sign(t *testing.T, jti, sub, event string, payload map[string]any) string {
	claims := settest.Claims(faultIssuer, s.audience, sub, event, payload, map[string]any{"jti": jti})
	return settest.Sign(t, claims, jose.ES256, s.key, "k1", settest.Type)
}

// statusCounts counts the answers clients got: by status, and separately
// the requests that got no answer at all (connection refused or reset).
type statusCounts struct {
	mu       sync.Mutex
	statuses map[int]int
	noAnswer int
}

func (s *statusCounts) add(status int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.statuses == nil {
		s.statuses = map[int]int{}
	}
	if err != nil {
		s.noAnswer++
		return
	}
	s.statuses[status]++
}

func (s *statusCounts) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var parts []string
	for status, n := range s.statuses {
		parts = append(parts, fmt.Sprintf("%d×%d", n, status))
	}
	sort.Strings(parts)
	return fmt.Sprintf("statuses %s; no answer %d", strings.Join(parts, " "), s.noAnswer)
}

func (s *statusCounts) count(status int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.statuses[status]
}

// faultLoad sends requests and retries them while the service is down.
type faultLoad struct {
	client  *http.Client
	all     statusCounts // every answer of the run
	pgDown  statusCounts // answers while PostgreSQL was stopped or starting
	down    atomic.Bool
	unknown atomic.Int64 // answers that are neither success nor 503
	mu      sync.Mutex
	samples []string // a few of those, for the failure message
}

// do sends the request build makes until it gets want, a 503 or no answer
// being retried (the same request: each is idempotent), until deadline.
func (l *faultLoad) do(build func() *http.Request, want int, deadline time.Time) bool {
	for time.Now().Before(deadline) {
		resp, err := l.client.Do(build())
		status := 0
		if err == nil {
			status = resp.StatusCode
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		l.all.add(status, err)
		if l.down.Load() {
			l.pgDown.add(status, err)
		}
		switch {
		case err == nil && status == want:
			return true
		case err == nil && status != http.StatusServiceUnavailable:
			l.unknown.Add(1)
			l.mu.Lock()
			if len(l.samples) < 5 {
				r := build()
				l.samples = append(l.samples, fmt.Sprintf("%s %s: %d", r.Method, r.URL.Path, status))
			}
			l.mu.Unlock()
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// TestFaultEverythingAtOnce runs api, frontend and worker binaries against
// a PostgreSQL cluster and a Redis of its own, puts 5,000 account events
// and 1,000 emails in flight, and meanwhile SIGKILLs the worker, stops
// PostgreSQL as a crash would and starts it again while clients keep
// sending, then SIGKILLs the worker again, FLUSHALLs Redis and restarts
// it. Every acknowledged event must be applied once, every email reach
// Notify once, and no request get anything worse than a 503.
func TestFaultEverythingAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries and a PostgreSQL cluster")
	}
	const (
		accounts      = 5000
		subscriptions = 1000
	)
	ctx := context.Background()
	pg := proc.StartPostgres(t)
	rs := proc.StartRedis(t)
	signer, jwksURL := newEventSigner(t)
	notify := proc.StartNotify(t)
	env := newFaultEnv(t, pg.DSN(), rs.URL(), jwksURL, notify)
	signer.audience = env.frontend

	env.Run("migrate")
	db := sqlx.MustConnect("postgres", pg.DSN())
	defer db.Close()
	var newsID, alertsID int64
	if err := db.Get(&newsID, `INSERT INTO subscriber_lists (title, slug) VALUES ('News', 'news') RETURNING id`); err != nil {
		t.Fatal(err)
	}
	if err := db.Get(&alertsID, `INSERT INTO subscriber_lists (title, slug) VALUES ('Alerts', 'alerts') RETURNING id`); err != nil {
		t.Fatal(err)
	}
	seedLinkedAccounts(t, db, accounts, "urn:fault:", newsID)

	env.Start("api")
	env.Start("frontend")
	worker := env.Start("worker")
	proc.WaitLive(t, env.api)
	proc.WaitLive(t, env.frontend)

	load := &faultLoad{client: &http.Client{Timeout: 10 * time.Second}}
	deadline := time.Now().Add(45 * time.Second)
	var acked, subscribed atomic.Int64
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 8 { // events: even accounts change email, odd ones are deleted
		wg.Go(func() {
			for i := int(next.Add(1)); i <= accounts; i = int(next.Add(1)) {
				sub := fmt.Sprintf("urn:fault:%d", i)
				var raw string
				if i%2 == 0 {
					raw = signer.sign(t, fmt.Sprintf("event-%d", i), sub, events.EventIdentifierChanged,
						map[string]any{"new-value": fmt.Sprintf("new%d@example.com", i)})
				} else {
					raw = signer.sign(t, fmt.Sprintf("event-%d", i), sub, events.EventAccountPurged, map[string]any{})
				}
				if load.do(func() *http.Request {
					r, _ := http.NewRequest(http.MethodPost, env.api+"/account-events", strings.NewReader(raw))
					r.Header.Set("Content-Type", "application/secevent+jwt")
					r.Header.Set("Authorization", "Bearer "+faultEventsToken)
					return r
				}, http.StatusAccepted, deadline) {
					acked.Add(1)
				}
			}
		})
	}
	var nextSub atomic.Int64
	for range 4 { // emails: each new subscription sends one
		wg.Go(func() {
			for i := int(nextSub.Add(1)); i <= subscriptions; i = int(nextSub.Add(1)) {
				body := fmt.Sprintf(`{"address":"fault-sub-%d@example.com","subscriber_list_id":%d,"frequency":"weekly"}`, i, alertsID)
				if load.do(func() *http.Request {
					r, _ := http.NewRequest(http.MethodPost, env.api+"/subscriptions", strings.NewReader(body))
					r.Header.Set("Content-Type", "application/json")
					r.Header.Set("Authorization", "Bearer "+faultAPIToken)
					return r
				}, http.StatusOK, deadline) {
					subscribed.Add(1)
				}
				time.Sleep(5 * time.Millisecond) // spread them over the run
			}
		})
	}
	stopPages := make(chan struct{})
	var pagesDone sync.WaitGroup
	pagesDone.Go(func() { // the frontend reads a list on every page view
		for {
			select {
			case <-stopPages:
				return
			default:
			}
			load.do(func() *http.Request {
				r, _ := http.NewRequest(http.MethodGet, env.frontend+"/email/subscriptions/new?topic_id=alerts", nil)
				return r
			}, http.StatusOK, time.Now().Add(50*time.Millisecond))
			time.Sleep(20 * time.Millisecond)
		}
	})

	waitFor := func(what string, done func() bool) {
		t.Helper()
		for end := time.Now().Add(40 * time.Second); !done(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("%s: not within 40s (%d events acked, %d subscribed, %d emails accepted)",
					what, acked.Load(), subscribed.Load(), len(notify.Accepted()))
			}
		}
	}
	eventsDone := func() int {
		var n int
		_ = db.Get(&n, `SELECT count(*) FROM account_events WHERE status = 'done'`)
		return n
	}

	// 1. SIGKILL the worker while it applies events and sends emails.
	waitFor("1,000 events acknowledged", func() bool { return acked.Load() >= 1000 })
	worker.Kill()
	t.Logf("worker killed: %d events acked, %d done, %d emails accepted", acked.Load(), eventsDone(), len(notify.Accepted()))
	worker = env.Start("worker")

	// 2. PostgreSQL stops as in a crash, stays down 2s, and comes back,
	// while the clients keep sending.
	waitFor("2,000 events acknowledged", func() bool { return acked.Load() >= 2000 })
	load.down.Store(true)
	downAt := time.Now()
	pg.Stop()
	t.Logf("PostgreSQL stopped: %d events acked, %d emails accepted", acked.Load(), len(notify.Accepted()))
	time.Sleep(2 * time.Second)
	pg.Start()
	waitFor("the API ready again", func() bool {
		resp, err := http.Get(env.api + "/healthcheck/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	load.down.Store(false)
	t.Logf("PostgreSQL back after %s; during the outage: %s", time.Since(downAt).Round(time.Millisecond), &load.pgDown)

	// 3. SIGKILL the worker again, and Redis loses every task.
	waitFor("3,500 events acknowledged", func() bool { return acked.Load() >= 3500 })
	worker.Kill()
	if err := rs.Client(t).FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("worker killed and Redis flushed: %d events acked, %d done, %d emails accepted", acked.Load(), eventsDone(), len(notify.Accepted()))
	env.Start("worker")

	wg.Wait()
	clientsDone := time.Now()
	close(stopPages)
	pagesDone.Wait()
	t.Logf("clients done: %d of %d events acked, %d of %d subscribed; all requests: %s",
		acked.Load(), accounts, subscribed.Load(), subscriptions, &load.all)
	if acked.Load() != accounts || subscribed.Load() != subscriptions {
		t.Fatalf("not every request succeeded in the end: %d events acked, %d subscribed", acked.Load(), subscribed.Load())
	}

	var unsent int
	drained := func() bool {
		_ = db.Get(&unsent, `SELECT count(*) FROM emails WHERE status <> 'sent'`)
		return eventsDone() == accounts && unsent == 0
	}
	for end := time.Now().Add(40 * time.Second); !drained(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			var states []struct {
				Status    string
				Attempts  int
				LastError *string `db:"last_error"`
				N         int
			}
			_ = db.Select(&states, `SELECT status, attempts, last_error, count(*) AS n FROM account_events
				WHERE status <> 'done' GROUP BY 1, 2, 3 ORDER BY n DESC LIMIT 5`)
			var emailStates []struct {
				Status   string
				Attempts int
				N        int
			}
			_ = db.Select(&emailStates, `SELECT status, attempts, count(*) AS n FROM emails
				WHERE status <> 'sent' GROUP BY 1, 2 ORDER BY n DESC LIMIT 5`)
			t.Fatalf("not drained within 40s: %d of %d events done (not done: %+v), %d emails unsent (%+v)",
				eventsDone(), accounts, states, unsent, emailStates)
		}
	}
	t.Logf("drained %s after the clients finished", time.Since(clientsDone).Round(time.Millisecond))

	// Every acknowledged event applied, once.
	var wrong int
	if err := db.Get(&wrong, `SELECT count(*) FROM account_events WHERE outcome <> 'applied' OR status <> 'done'`); err != nil {
		t.Fatal(err)
	}
	if wrong != 0 {
		t.Errorf("%d events not applied", wrong)
	}
	for _, c := range []struct {
		name, query string
		args        []any
	}{
		{"email changes applied", `SELECT count(*) = $1 / 2 FROM subscribers
			WHERE address = 'new' || substr(govuk_account_id, 11) || '@example.com'`, []any{accounts}},
		{"deleted accounts' subscriptions ended once", `SELECT count(*) = $1 / 2 FROM subscriptions
			WHERE ended_reason = 'account_deleted'`, []any{accounts}},
		{"one tombstone per deletion", `SELECT count(*) = $1 / 2 FROM deleted_accounts`, []any{accounts}},
		{"no news subscription created or ended twice", `SELECT count(*) = $1 FROM subscriptions
			WHERE subscriber_list_id = $2`, []any{accounts, newsID}},
		{"one alerts subscription per address", `SELECT count(*) = $1 AND count(DISTINCT subscriber_id) = $1
			FROM subscriptions WHERE subscriber_list_id = $2`, []any{subscriptions, alertsID}},
		{"one email per new subscription", `SELECT count(*) = $1 AND count(DISTINCT address) = $1
			FROM emails WHERE address LIKE 'fault-sub-%'`, []any{subscriptions}},
	} {
		var ok bool
		if err := db.Get(&ok, c.query, c.args...); err != nil || !ok {
			t.Errorf("%s: false (%v)", c.name, err)
		}
	}

	// Every email sent, once: Notify saw each outbox row exactly once.
	var ids []string
	if err := db.Select(&ids, `SELECT id::text FROM emails`); err != nil {
		t.Fatal(err)
	}
	accepted := notify.Accepted()
	var missing, twice int
	for _, id := range ids {
		switch n := accepted[id]; {
		case n == 0:
			missing++
		case n > 1:
			twice++
		}
		delete(accepted, id)
	}
	t.Logf("emails: %d in the outbox, %d not sent, %d sent more than once, %d unknown to the outbox", len(ids), missing, twice, len(accepted))
	if missing != 0 || twice != 0 || len(accepted) != 0 || len(ids) < subscriptions {
		t.Errorf("emails not sent exactly once")
	}

	// Nothing worse than a 503, and 503s only came with the outage.
	if n := load.unknown.Load(); n != 0 {
		t.Errorf("%d answers were neither success nor 503, e.g. %q", n, load.samples)
	}
	if n := load.all.count(http.StatusInternalServerError); n != 0 {
		t.Errorf("%d requests got 500", n)
	}
	t.Logf("503s: %d during the PostgreSQL outage, %d in all", load.pgDown.count(http.StatusServiceUnavailable), load.all.count(http.StatusServiceUnavailable))
}

// unavailableCheck is one request that must be answered 503 (or, for the
// event intake while Redis is away, 202: PostgreSQL alone makes it durable).
type unavailableCheck struct {
	name  string
	build func() *http.Request
	want  int
	body  string // of a 503: "json" ({"error": …}), "page" (the GOV.UK error page) or "" (any)
}

// TestFault503NotHang stops PostgreSQL, then Redis, then makes Redis hang
// (SIGSTOP), under running api and frontend processes: requests that need
// what is missing get 503 with Retry-After within the client's 5-second
// timeout, the health checks say unavailable, and once it is back the same
// processes answer normally again.
func TestFault503NotHang(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries and a PostgreSQL cluster")
	}
	pg := proc.StartPostgres(t)
	rs := proc.StartRedis(t)
	signer, jwksURL := newEventSigner(t)
	// Nothing listens at this Notify: these processes send no email.
	env := newFaultEnv(t, pg.DSN(), rs.URL(), jwksURL, &proc.Notify{URL: "http://127.0.0.1:1"})
	signer.audience = env.frontend
	env.Set("RATE_LIMIT_PER_ADDRESS=1000/minute", "RATE_LIMIT_PER_CLIENT=1000/minute")
	env.Run("migrate")
	db := sqlx.MustConnect("postgres", pg.DSN())
	defer db.Close()
	var listID int64
	if err := db.Get(&listID, `INSERT INTO subscriber_lists (title, slug) VALUES ('News', 'news') RETURNING id`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO subscribers (address) VALUES ('known@example.com')`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	env.Start("api")
	env.Start("frontend")
	proc.WaitLive(t, env.api)
	proc.WaitLive(t, env.frontend)

	client := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	apiReq := func(method, path, body string) func() *http.Request {
		return func() *http.Request {
			r, _ := http.NewRequest(method, env.api+path, strings.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("Authorization", "Bearer "+faultAPIToken)
			return r
		}
	}
	pageReq := func(method, path string, form url.Values) func() *http.Request {
		return func() *http.Request {
			r, _ := http.NewRequest(method, env.frontend+path, strings.NewReader(form.Encode()))
			if method == http.MethodPost {
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			return r
		}
	}
	eventReq := func() *http.Request {
		raw := signer.sign(t, uuid.NewString(), "urn:fault:someone", events.EventAccountPurged, map[string]any{})
		r, _ := http.NewRequest(http.MethodPost, env.api+"/account-events", strings.NewReader(raw))
		r.Header.Set("Content-Type", "application/secevent+jwt")
		r.Header.Set("Authorization", "Bearer "+faultEventsToken)
		return r
	}
	var n atomic.Int64
	subscribe := func() *http.Request {
		return apiReq(http.MethodPost, "/subscriptions",
			fmt.Sprintf(`{"address":"s%d@example.com","subscriber_list_id":%d}`, n.Add(1), listID))()
	}
	signIn := pageReq(http.MethodPost, "/email/manage/authenticate", url.Values{"address": {"known@example.com"}})
	authToken := apiReq(http.MethodPost, "/subscribers/auth-token", `{"address":"known@example.com","destination":"/email/manage"}`)
	confirmToken := apiReq(http.MethodPost, "/subscriptions/auth-token", `{"address":"new@example.com","topic_id":"news","frequency":"daily"}`)
	verify := pageReq(http.MethodPost, "/email/subscriptions/verify", url.Values{"address": {"new@example.com"}, "topic_id": {"news"}, "frequency": {"daily"}})

	var slowest time.Duration
	check := func(phase string, checks []unavailableCheck) {
		t.Helper()
		for _, c := range checks {
			start := time.Now()
			resp, err := client.Do(c.build())
			took := time.Since(start)
			slowest = max(slowest, took)
			if err != nil {
				t.Errorf("%s: %s: no answer after %s: %v", phase, c.name, took.Round(time.Millisecond), err)
				continue
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			t.Logf("%s: %s: %d in %s", phase, c.name, resp.StatusCode, took.Round(time.Millisecond))
			if resp.StatusCode != c.want {
				t.Errorf("%s: %s: status %d, want %d: %.200s", phase, c.name, resp.StatusCode, c.want, body)
				continue
			}
			if c.want != http.StatusServiceUnavailable {
				continue
			}
			if resp.Header.Get("Retry-After") == "" && !strings.Contains(c.name, "ready") {
				t.Errorf("%s: %s: 503 without Retry-After", phase, c.name)
			}
			var e struct {
				Error string `json:"error"`
			}
			switch {
			case c.body == "json" && (json.Unmarshal(body, &e) != nil || e.Error == ""):
				t.Errorf("%s: %s: body %.200q, want {\"error\": …}", phase, c.name, body)
			case c.body == "page" && !strings.Contains(string(body), "Sorry, there is a problem with the service"):
				t.Errorf("%s: %s: body %.200q, want the GOV.UK error page", phase, c.name, body)
			}
		}
	}
	// recovers waits until every request is answered as normal again, with
	// no restart of the processes.
	recovers := func(phase string, checks []unavailableCheck) {
		t.Helper()
		start := time.Now()
		for _, c := range checks {
			for {
				resp, err := client.Do(c.build())
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode == c.want {
						break
					}
				}
				if time.Since(start) > 20*time.Second {
					t.Fatalf("%s: %s did not recover within 20s (last: %v %v)", phase, c.name, err, resp)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		t.Logf("%s: recovered in %s", phase, time.Since(start).Round(time.Millisecond))
	}
	healthy := []unavailableCheck{
		{name: "api ready", build: apiReq(http.MethodGet, "/healthcheck/ready", ""), want: 200},
		{name: "frontend ready", build: pageReq(http.MethodGet, "/healthcheck/ready", nil), want: 200},
		{name: "GET list", build: apiReq(http.MethodGet, "/subscriber-lists/news", ""), want: 200},
		{name: "subscribe", build: subscribe, want: 200},
		{name: "event", build: eventReq, want: 202},
		{name: "api sign-in token", build: authToken, want: 201},
		{name: "api confirmation token", build: confirmToken, want: 200},
		{name: "page with a list", build: pageReq(http.MethodGet, "/email/subscriptions/new?topic_id=news", nil), want: 200},
		{name: "page sign-in request", build: signIn, want: 200},
		{name: "page confirmation request", build: verify, want: 200},
	}
	check("before", healthy)
	managePage := signedInPage(t, client, pg.DSN(), env.frontend)

	// PostgreSQL down: everything that reads or writes it.
	pg.Stop()
	check("PostgreSQL down", []unavailableCheck{
		{name: "api ready", build: apiReq(http.MethodGet, "/healthcheck/ready", ""), want: 503},
		{name: "frontend ready", build: pageReq(http.MethodGet, "/healthcheck/ready", nil), want: 503},
		{name: "GET list", build: apiReq(http.MethodGet, "/subscriber-lists/news", ""), want: 503, body: "json"},
		{name: "subscribe", build: subscribe, want: 503, body: "json"},
		{name: "event", build: eventReq, want: 503},
		{name: "api sign-in token", build: authToken, want: 503, body: "json"},
		{name: "api confirmation token", build: confirmToken, want: 503, body: "json"},
		{name: "page with a list", build: pageReq(http.MethodGet, "/email/subscriptions/new?topic_id=news", nil), want: 503, body: "page"},
		{name: "page sign-in request", build: signIn, want: 503, body: "page"},
		{name: "page confirmation request", build: verify, want: 503, body: "page"},
		// A signed-in person is not sent to sign in again.
		{name: "signed-in manage page", build: managePage, want: 503, body: "page"},
	})
	pg.Start()
	recovers("PostgreSQL back", healthy)

	// Redis down: rate-limited requests fail closed; the rest goes on.
	rs.Stop()
	redisDown := []unavailableCheck{
		{name: "api ready", build: apiReq(http.MethodGet, "/healthcheck/ready", ""), want: 503},
		{name: "frontend ready", build: pageReq(http.MethodGet, "/healthcheck/ready", nil), want: 503},
		{name: "api sign-in token", build: authToken, want: 503, body: "json"},
		{name: "api confirmation token", build: confirmToken, want: 503, body: "json"},
		{name: "page sign-in request", build: signIn, want: 503, body: "page"},
		{name: "page confirmation request", build: verify, want: 503, body: "page"},
		{name: "GET list", build: apiReq(http.MethodGet, "/subscriber-lists/news", ""), want: 200},
		{name: "subscribe", build: subscribe, want: 200},
		{name: "event (stored; the sweep enqueues it)", build: eventReq, want: 202},
	}
	check("Redis down", redisDown)
	rs.Start()
	recovers("Redis back", healthy)

	// Redis hangs: it accepts connections and never answers.
	rs.Pause()
	check("Redis hanging", redisDown)
	rs.Resume()
	recovers("Redis answering again", healthy)
	t.Logf("slowest answer: %s", slowest.Round(time.Millisecond))
}

// signedInPage signs known@example.com in by magic link (the link read from
// the outbox) and returns a request for the manage page with that session.
func signedInPage(t *testing.T, client *http.Client, dsn, site string) func() *http.Request {
	t.Helper()
	db := sqlx.MustConnect("postgres", dsn)
	defer db.Close()
	var body string
	if err := db.Get(&body, `
		SELECT body FROM emails WHERE address = 'known@example.com' AND kind = 'sign_in'
		ORDER BY created_at DESC LIMIT 1`); err != nil {
		t.Fatalf("the sign-in email: %v", err)
	}
	link := regexp.MustCompile(`/email/manage/authenticate/process\?token=[A-Za-z0-9_-]+`).FindString(body)
	if link == "" {
		t.Fatalf("no sign-in link in %q", body)
	}
	resp, err := client.Get(site + link)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == frontend.SessionCookie && c.Value != "" {
			session = c
		}
	}
	if session == nil {
		t.Fatalf("redeeming the sign-in link: %d and no session cookie", resp.StatusCode)
	}
	return func() *http.Request {
		r, _ := http.NewRequest(http.MethodGet, site+"/email/manage", nil)
		r.AddCookie(session)
		return r
	}
}
