package app

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/redis/go-redis/v9"

	"email-alert/events"
	"email-alert/frontend"
	"email-alert/internal/settest"
)

// pgCluster is a throwaway PostgreSQL cluster of one test, on a port of
// its own: the test may stop and restart it without touching the shared
// server on 5432. Its superuser is root, trusted without a password.
type pgCluster struct {
	t      *testing.T
	bindir string
	dir    string   // data, socket and log: owned by the cluster's OS user
	asUser []string // runs a command as that user (runuser when we are root)
	port   string
}

// postgresBindir finds initdb and pg_ctl: pg_config --bindir, else the
// newest /usr/lib/postgresql/*/bin, else the PATH.
func postgresBindir(t *testing.T) string {
	t.Helper()
	var candidates []string
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		candidates = append(candidates, strings.TrimSpace(string(out)))
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	candidates = append(candidates, dirs...)
	if p, err := exec.LookPath("initdb"); err == nil {
		candidates = append(candidates, filepath.Dir(p))
	}
	for _, dir := range candidates {
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "pg_ctl")); err == nil {
				return dir
			}
		}
	}
	t.Fatal("initdb and pg_ctl not found (pg_config --bindir, /usr/lib/postgresql/*/bin, PATH): " +
		"the fault tests need a PostgreSQL server installation (make test installs it)")
	return ""
}

func versionOf(bindir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(bindir)))
	return n
}

// startPostgres creates and starts a cluster, stopped and removed when
// the test ends. initdb refuses to run as root, so as root the cluster
// belongs to the postgres OS user.
func startPostgres(t *testing.T) *pgCluster {
	t.Helper()
	pg := &pgCluster{t: t, bindir: postgresBindir(t)}
	dir, err := os.MkdirTemp("", "email-alert-fault-pg-")
	if err != nil {
		t.Fatal(err)
	}
	pg.dir = dir
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root, and there is no postgres user to run PostgreSQL as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		runuser, err := exec.LookPath("runuser")
		if err != nil {
			t.Fatalf("running as root without runuser: %v", err)
		}
		pg.asUser = []string{runuser, "-u", "postgres", "--"}
	}
	_, pg.port, _ = net.SplitHostPort(freeAddr(t))
	pg.run("initdb", "-D", pg.data(), "-A", "trust", "-U", "root", "--no-sync")
	pg.start()
	t.Cleanup(pg.stop)
	return pg
}

func (pg *pgCluster) data() string { return filepath.Join(pg.dir, "data") }

// DSN connects to the cluster's postgres database over TCP.
func (pg *pgCluster) DSN() string {
	return "postgres://root@127.0.0.1:" + pg.port + "/postgres?sslmode=disable"
}

func (pg *pgCluster) run(tool string, args ...string) {
	pg.t.Helper()
	argv := append(slices.Clone(pg.asUser), append([]string{filepath.Join(pg.bindir, tool)}, args...)...)
	cmd := exec.Command(argv[0], argv[1:]...)
	if out, err := cmd.CombinedOutput(); err != nil {
		pg.t.Fatalf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, out)
	}
}

func (pg *pgCluster) start() {
	pg.t.Helper()
	pg.run("pg_ctl", "-D", pg.data(), "-l", filepath.Join(pg.dir, "log"), "-w", "start", "-o",
		"-p "+pg.port+" -k "+pg.dir+" -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200")
}

// stop stops the cluster at once, as a crash would (-m immediate).
func (pg *pgCluster) stop() {
	pg.t.Helper()
	if _, err := os.Stat(filepath.Join(pg.data(), "postmaster.pid")); err != nil {
		return // not running
	}
	pg.run("pg_ctl", "-D", pg.data(), "-m", "immediate", "-w", "stop")
}

// redisServer is a throwaway redis-server that a test may stop, pause and
// start again on the same port.
type redisServer struct {
	t    *testing.T
	path string
	addr string
	dir  string
	cmd  *exec.Cmd
}

func startRedis(t *testing.T) *redisServer {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not installed (make test installs it): %v", err)
	}
	r := &redisServer{t: t, path: path, addr: freeAddr(t), dir: t.TempDir()}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *redisServer) URL() string { return "redis://" + r.addr + "/0" }

func (r *redisServer) start() {
	r.t.Helper()
	_, port, _ := net.SplitHostPort(r.addr)
	r.cmd = exec.Command(r.path, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", r.dir)
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: r.addr})
	defer rdb.Close()
	for deadline := time.Now().Add(10 * time.Second); rdb.Ping(context.Background()).Err() != nil; {
		if time.Now().After(deadline) {
			r.t.Fatal("redis-server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *redisServer) stop() {
	if r.cmd != nil {
		_ = r.cmd.Process.Signal(syscall.SIGCONT)
		kill(r.cmd)
		r.cmd = nil
	}
}

// faultEnv is the environment of the service processes of a fault test.
type faultEnv struct {
	vars     []string
	api      string // base URLs
	frontend string
	logDir   string
}

const (
	faultAPIToken    = "fault-test-api-token"
	faultEventsToken = "fault-test-events-token"
	faultIssuer      = "https://account.fault.test/"
)

func newFaultEnv(t *testing.T, dsn, redisURL, jwksURL, notifyURL string) *faultEnv {
	t.Helper()
	apiAddr, frontendAddr := freeAddr(t), freeAddr(t)
	e := &faultEnv{api: "http://" + apiAddr, frontend: "http://" + frontendAddr, logDir: t.TempDir()}
	e.vars = append(os.Environ(),
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
		"EMAIL_DELIVERY=notify",
		"NOTIFY_BASE_URL="+notifyURL,
		"NOTIFY_API_KEY=test-"+uuid.NewString()+"-"+uuid.NewString(),
		"NOTIFY_TEMPLATE_ID="+uuid.NewString(),
		"WORKER_CONCURRENCY=20",
	)
	t.Cleanup(func() {
		if t.Failed() {
			e.dumpLogs(t)
		}
	})
	return e
}

// proc is a running service process.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once it has exited
}

// kill SIGKILLs the process and waits for it to be gone.
func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// start runs one subcommand of bin; its log goes to a file, shown when the
// test fails.
func (e *faultEnv) start(t *testing.T, bin, command string) *proc {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(e.logDir, command+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, command)
	cmd.Env = e.vars
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); close(p.done) }()
	t.Cleanup(p.kill)
	return p
}

func (e *faultEnv) dumpLogs(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(e.logDir, "*.log"))
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			continue
		}
		var lines []string
		s := bufio.NewScanner(f)
		s.Buffer(make([]byte, 1<<20), 1<<20)
		for s.Scan() {
			if line := s.Text(); !strings.Contains(line, `"status":20`) && !strings.Contains(line, "status=20") {
				lines = append(lines, line)
			}
		}
		f.Close()
		if len(lines) > 40 {
			lines = lines[len(lines)-40:]
		}
		t.Logf("%s (last lines that are not 2xx requests):\n%s", filepath.Base(name), strings.Join(lines, "\n"))
	}
}

// waitLive polls base's /healthcheck/live until it answers.
func waitLive(t *testing.T, base string) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(base + "/healthcheck/live")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never became live", base)
		}
	}
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
	pg := startPostgres(t)
	rs := startRedis(t)
	bin := buildWorker(t)
	signer, jwksURL := newEventSigner(t)
	notify := &fakeNotify{accepted: map[string]int{}}
	notifyServer := httptest.NewServer(notify)
	defer notifyServer.Close()
	env := newFaultEnv(t, pg.DSN(), rs.URL(), jwksURL, notifyServer.URL)
	signer.audience = env.frontend

	if out, err := runWithEnv(bin, "migrate", env.vars); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
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

	env.start(t, bin, "api")
	env.start(t, bin, "frontend")
	worker := env.start(t, bin, "worker")
	waitLive(t, env.api)
	waitLive(t, env.frontend)

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
					what, acked.Load(), subscribed.Load(), len(notify.snapshot()))
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
	worker.kill()
	t.Logf("worker killed: %d events acked, %d done, %d emails accepted", acked.Load(), eventsDone(), len(notify.snapshot()))
	worker = env.start(t, bin, "worker")

	// 2. PostgreSQL stops as in a crash, stays down 2s, and comes back,
	// while the clients keep sending.
	waitFor("2,000 events acknowledged", func() bool { return acked.Load() >= 2000 })
	load.down.Store(true)
	downAt := time.Now()
	pg.stop()
	t.Logf("PostgreSQL stopped: %d events acked, %d emails accepted", acked.Load(), len(notify.snapshot()))
	time.Sleep(2 * time.Second)
	pg.start()
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
	worker.kill()
	if err := redis.NewClient(&redis.Options{Addr: rs.addr}).FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("worker killed and Redis flushed: %d events acked, %d done, %d emails accepted", acked.Load(), eventsDone(), len(notify.snapshot()))
	env.start(t, bin, "worker")

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
	accepted := notify.snapshot()
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

// snapshot copies the accepted references and their counts.
func (n *fakeNotify) snapshot() map[string]int {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make(map[string]int, len(n.accepted))
	for k, v := range n.accepted {
		out[k] = v
	}
	return out
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
	pg := startPostgres(t)
	rs := startRedis(t)
	bin := buildWorker(t)
	signer, jwksURL := newEventSigner(t)
	env := newFaultEnv(t, pg.DSN(), rs.URL(), jwksURL, "http://127.0.0.1:1")
	signer.audience = env.frontend
	env.vars = append(env.vars, "RATE_LIMIT_PER_ADDRESS=1000/minute", "RATE_LIMIT_PER_CLIENT=1000/minute")
	if out, err := runWithEnv(bin, "migrate", env.vars); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
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
	env.start(t, bin, "api")
	env.start(t, bin, "frontend")
	waitLive(t, env.api)
	waitLive(t, env.frontend)

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
	pg.stop()
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
	pg.start()
	recovers("PostgreSQL back", healthy)

	// Redis down: rate-limited requests fail closed; the rest goes on.
	rs.stop()
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
	rs.start()
	recovers("Redis back", healthy)

	// Redis hangs: it accepts connections and never answers.
	if err := rs.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	check("Redis hanging", redisDown)
	if err := rs.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	recovers("Redis answering again", healthy)
	t.Logf("slowest answer: %s", slowest.Round(time.Millisecond))
}

func runWithEnv(bin, command string, env []string) ([]byte, error) {
	cmd := exec.Command(bin, command)
	cmd.Env = env
	return cmd.CombinedOutput()
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
