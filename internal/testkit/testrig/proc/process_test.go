package proc

import (
	"context"
	"debug/buildinfo"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
)

func TestMain(m *testing.M) { os.Exit(RunTests(m)) }

func TestBinaryIsBuiltOnce(t *testing.T) {
	first := Binary(t)
	if _, err := os.Stat(first); err != nil {
		t.Fatal(err)
	}
	if again := Binary(t); again != first {
		t.Errorf("second Binary = %s, want the first build %s", again, first)
	}
}

// TestBinaryIsBuiltLean checks the service is built with BuildTags and
// without cgo: without nomsgpack gin links the MessagePack codec in, and
// with cgo the binary loads libc.
func TestBinaryIsBuiltLean(t *testing.T) {
	info, err := buildinfo.ReadFile(Binary(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, dep := range info.Deps {
		if dep.Path == "github.com/ugorji/go/codec" {
			t.Errorf("the binary links %s %s: build it with -tags %s", dep.Path, dep.Version, BuildTags)
		}
	}
	for _, want := range []debug.BuildSetting{{Key: "-tags", Value: BuildTags}, {Key: "CGO_ENABLED", Value: "0"}} {
		if !slices.Contains(info.Settings, want) {
			t.Errorf("build settings %v, want %s=%s", info.Settings, want.Key, want.Value)
		}
	}
}

// TestEnvRunsTheService migrates a fresh schema, starts the api against a
// private Redis and waits for it to be ready.
func TestEnvRunsTheService(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	_, dsn := Schema(t)
	rs := StartRedis(t)
	addr := FreeAddr(t)
	env := NewEnv(t, "DATABASE_URL="+dsn, "REDIS_URL="+rs.URL(), "API_ADDR="+addr)
	env.Run("migrate")
	api := env.Start("api")
	WaitLive(t, "http://"+addr)
	WaitReady(t, "http://"+addr)
	api.Kill()
	if _, err := http.Get("http://" + addr + "/healthcheck/live"); err == nil {
		t.Error("the api still answers after Kill")
	}
}

func TestKillIsFinalAndRepeatable(t *testing.T) {
	p := StartCmd(t, "sleep", exec.Command("sleep", "60"))
	start := time.Now()
	p.Kill()
	p.Kill() // a second Kill, and the one at cleanup, do nothing
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Kill took %s", took)
	}
	if err := p.Signal(os.Interrupt); err == nil {
		t.Error("the process still takes signals after Kill")
	}
}

// logRecorder is a testing.TB that keeps what is logged.
type logRecorder struct {
	testing.TB
	logs []string
}

func (r *logRecorder) Logf(format string, args ...any) {
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
}

func TestDumpLogLeavesOutSuccessfulRequests(t *testing.T) {
	path := t.TempDir() + "/log"
	var lines []string
	for i := range 50 {
		lines = append(lines, fmt.Sprintf("line %d", i))
	}
	lines = append(lines, `{"msg":"request","status":200}`, "level=INFO status=204", "status=503 the last")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	r := &logRecorder{TB: t}
	dumpLog(r, "worker", path)
	if len(r.logs) != 1 {
		t.Fatalf("logged %d times, want once", len(r.logs))
	}
	got := r.logs[0]
	for _, want := range []string{"worker", "line 49", "line 11", "status=503 the last"} {
		if !strings.Contains(got, want) {
			t.Errorf("dump lacks %q:\n%s", want, got)
		}
	}
	for _, unwanted := range []string{"line 10\n", `"status":200`, "status=204"} {
		if strings.Contains(got, unwanted) {
			t.Errorf("dump has %q:\n%s", unwanted, got)
		}
	}
}

func TestRedisServerStopsPausesAndStartsAgain(t *testing.T) {
	ctx := context.Background()
	rs := StartRedis(t)
	rdb := rs.Client(t)
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	rs.Pause()
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := rdb.Ping(short).Err(); err == nil {
		t.Error("a paused server answered PING")
	}
	rs.Resume()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Errorf("after Resume: %v", err)
	}
	rs.Stop()
	if err := rdb.Ping(ctx).Err(); err == nil {
		t.Error("a stopped server answered PING")
	}
	rs.Start()
	if n := rdb.Exists(ctx, "k").Val(); n != 0 {
		t.Errorf("the restarted server kept the key (%d)", n)
	}
}

func TestPostgresStopsAndStartsAgain(t *testing.T) {
	if testing.Short() {
		t.Skip("creates a PostgreSQL cluster")
	}
	pg := StartPostgres(t)
	ping := func() error {
		db, err := sqlx.Open("postgres", pg.DSN())
		if err != nil {
			return err
		}
		defer db.Close()
		return db.Ping()
	}
	if err := ping(); err != nil {
		t.Fatal(err)
	}
	pg.Stop()
	if err := ping(); err == nil {
		t.Error("a stopped cluster accepted a connection")
	}
	pg.Stop() // stopping a stopped cluster does nothing
	pg.Start()
	if err := ping(); err != nil {
		t.Errorf("after Start: %v", err)
	}
}

func TestNotifyRecordsEachSendByReference(t *testing.T) {
	n := StartNotify(t)
	send := func(ref string) int {
		resp, err := http.Post(n.URL+"/v2/notifications/email", "application/json", strings.NewReader(`{"reference":"`+ref+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, ref := range []string{"a", "b", "a"} {
		if status := send(ref); status != http.StatusCreated {
			t.Fatalf("send %s: %d", ref, status)
		}
	}
	if status := send(""); status != http.StatusBadRequest {
		t.Errorf("send without a reference: %d, want 400", status)
	}
	if accepted, duplicates := n.Total(); accepted != 2 || duplicates != 1 {
		t.Errorf("Total = %d, %d; want 2, 1", accepted, duplicates)
	}
	if got := n.Accepted(); got["a"] != 2 || got["b"] != 1 || len(got) != 2 {
		t.Errorf("Accepted = %v", got)
	}
	lookup := func(ref string) string {
		resp, err := http.Get(n.URL + "/v2/notifications?reference=" + ref)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	if got := lookup("a"); !strings.Contains(got, `"reference":"a"`) {
		t.Errorf("look-up of a sent email: %s", got)
	}
	if got := lookup("zzz"); strings.Contains(got, "reference") {
		t.Errorf("look-up of an unknown email: %s", got)
	}
}
