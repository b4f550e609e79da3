package proc

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The binary of this test binary run, built on first use.
var binary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// BuildTags and BuildCgo are how every build of the service is made: the
// Makefile's build target and scripts/run.sh build the same way. nomsgpack
// leaves gin's MessagePack codec out (the service never reads
// MessagePack), and without cgo the binary links no libc: together about
// 3 MB less of the binary's pages resident in every process
// (BENCHMARKS.notes.md, change 24).
const (
	BuildTags = "nomsgpack"
	BuildCgo  = "CGO_ENABLED=0"
)

// BuildBinary builds the email-alert command into dir and returns its
// path. It works from any directory inside the module.
func BuildBinary(dir string) (string, error) {
	bin := filepath.Join(dir, "email-alert")
	build := exec.Command("go", "build", "-tags", BuildTags, "-o", bin, "email-alert/cmd/email-alert")
	build.Env = append(os.Environ(), BuildCgo)
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build email-alert: %w\n%s", err, out)
	}
	return bin, nil
}

// Binary returns the path of the email-alert binary, built the first time
// any test of this run asks for it. A failed build fails every test that
// asks.
func Binary(t testing.TB) string {
	t.Helper()
	binary.once.Do(func() {
		binary.dir, binary.err = os.MkdirTemp("", "email-alert-testrig-")
		if binary.err == nil {
			binary.path, binary.err = BuildBinary(binary.dir)
		}
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

// RunTests runs m's tests and then removes the binary [Binary] built, if
// any. Call it from TestMain: os.Exit(testrig.RunTests(m)).
func RunTests(m *testing.M) int {
	code := m.Run()
	if binary.dir != "" {
		_ = os.RemoveAll(binary.dir)
	}
	return code
}

// FreeAddr returns a 127.0.0.1 address with a port nothing listens on.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Process is a running process of a test.
type Process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once it has exited
}

// StartCmd starts cmd, its stdout and stderr going to a log shown under
// name when the test fails. The process is killed when the test ends, and
// its log shown after that, so it is complete.
func StartCmd(t testing.TB, name string, cmd *exec.Cmd) *Process {
	t.Helper()
	log := filepath.Join(t.TempDir(), "log")
	f, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			dumpLog(t, fmt.Sprintf("%s (pid %d)", name, cmd.Process.Pid), log)
		}
	})
	p := &Process{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); close(p.done) }()
	t.Cleanup(p.Kill)
	return p
}

// Kill SIGKILLs the process, as a crash would, and waits until it is gone.
// It does nothing to a process that has exited.
func (p *Process) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Signal sends sig to the process (SIGSTOP and SIGCONT pause and resume it).
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Pid is the process's id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// dumpLog logs the last 40 lines of the file at path that are not request
// logs of 2xx answers.
func dumpLog(t testing.TB, name, path string) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	var lines []string
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		if line := s.Text(); !strings.Contains(line, `"status":20`) && !strings.Contains(line, "status=20") {
			lines = append(lines, line)
		}
	}
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	t.Logf("%s, the last lines that are not 2xx requests:\n%s", name, strings.Join(lines, "\n"))
}

// Env is the environment the email-alert processes of one test share: the
// variables of this process, then the test's own (a later one wins).
type Env struct {
	t    testing.TB
	bin  string
	vars []string
}

// NewEnv returns an environment for the email-alert binary ([Binary]) with
// vars ("NAME=value") added to this process's environment.
func NewEnv(t testing.TB, vars ...string) *Env {
	t.Helper()
	return &Env{t: t, bin: Binary(t), vars: append(os.Environ(), vars...)}
}

// Set adds vars, overriding earlier values, for the processes started after.
func (e *Env) Set(vars ...string) { e.vars = append(e.vars, vars...) }

// Start runs email-alert with args (a subcommand: api, frontend, worker)
// in the environment, as [StartCmd] does.
func (e *Env) Start(args ...string) *Process {
	e.t.Helper()
	cmd := exec.Command(e.bin, args...)
	cmd.Env = e.vars
	return StartCmd(e.t, strings.Join(append([]string{"email-alert"}, args...), " "), cmd)
}

// Run runs email-alert with args (migrate, say) to completion, failing the
// test, with the output, if it fails. It returns the output.
func (e *Env) Run(args ...string) []byte {
	e.t.Helper()
	cmd := exec.Command(e.bin, args...)
	cmd.Env = e.vars
	out, err := cmd.CombinedOutput()
	if err != nil {
		e.t.Fatalf("email-alert %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// WaitLive waits up to 15 s for base (a service's URL) to answer 200 on
// /healthcheck/live: the process is up, whatever its dependencies say.
func WaitLive(t testing.TB, base string) {
	t.Helper()
	waitOK(t, base+"/healthcheck/live")
}

// WaitReady waits up to 15 s for base to answer 200 on /healthcheck/ready:
// the process is up and reaches PostgreSQL and Redis.
func WaitReady(t testing.TB, base string) {
	t.Helper()
	waitOK(t, base+"/healthcheck/ready")
}

func waitOK(t testing.TB, url string) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer 200 within 15 s", url)
		}
	}
}
