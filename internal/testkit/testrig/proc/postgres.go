package proc

import (
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"email-alert/internal/testkit/testdb"
)

// Schema returns a connection to a new, fully migrated schema of the
// shared test PostgreSQL, dropped when the test ends, and the
// DATABASE_URL that reaches it (for a process). It is [testdb.New].
func Schema(t testing.TB) (*sqlx.DB, string) {
	t.Helper()
	return testdb.New(t)
}

// Postgres is a PostgreSQL cluster of one test alone, on a port of its own:
// the test may stop it as a crash would and start it again without
// touching the shared server. Its superuser is root, trusted without a
// password; it starts empty (run migrate).
type Postgres struct {
	t      testing.TB
	bindir string
	dir    string   // data, socket and log: owned by the cluster's OS user
	asUser []string // runs a command as that user (runuser when we are root)
	port   string
}

// StartPostgres creates and starts a cluster, stopped and removed when the
// test ends. initdb refuses to run as root, so as root the cluster belongs
// to the postgres OS user.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	pg := &Postgres{t: t, bindir: postgresBindir(t)}
	dir, err := os.MkdirTemp("", "email-alert-testrig-pg-")
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
	pg.port = portOf(FreeAddr(t))
	pg.run("initdb", "-D", pg.data(), "-A", "trust", "-U", "root", "--no-sync")
	t.Cleanup(func() {
		if t.Failed() {
			dumpLog(t, "PostgreSQL cluster on port "+pg.port, pg.log())
		}
	})
	pg.Start()
	t.Cleanup(pg.Stop)
	return pg
}

// postgresBindir finds initdb and pg_ctl: pg_config --bindir, else the
// newest /usr/lib/postgresql/*/bin, else the PATH.
func postgresBindir(t testing.TB) string {
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
		"a throwaway cluster needs a PostgreSQL server installation (make test installs it)")
	return ""
}

func versionOf(bindir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(bindir)))
	return n
}

func portOf(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}

func (pg *Postgres) data() string { return filepath.Join(pg.dir, "data") }
func (pg *Postgres) log() string  { return filepath.Join(pg.dir, "log") }

// DSN connects to the cluster's postgres database over TCP.
func (pg *Postgres) DSN() string {
	return "postgres://root@127.0.0.1:" + pg.port + "/postgres?sslmode=disable"
}

func (pg *Postgres) run(tool string, args ...string) {
	pg.t.Helper()
	argv := append(slices.Clone(pg.asUser), append([]string{filepath.Join(pg.bindir, tool)}, args...)...)
	cmd := exec.Command(argv[0], argv[1:]...)
	if out, err := cmd.CombinedOutput(); err != nil {
		pg.t.Fatalf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, out)
	}
}

// Start starts the cluster (again, after Stop) and waits until it accepts
// connections.
func (pg *Postgres) Start() {
	pg.t.Helper()
	pg.run("pg_ctl", "-D", pg.data(), "-l", pg.log(), "-w", "start", "-o",
		"-p "+pg.port+" -k "+pg.dir+" -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200")
}

// Stop stops the cluster at once, as a crash would (-m immediate). It does
// nothing to a stopped cluster.
func (pg *Postgres) Stop() {
	pg.t.Helper()
	if _, err := os.Stat(filepath.Join(pg.data(), "postmaster.pid")); err != nil {
		return // not running
	}
	pg.run("pg_ctl", "-D", pg.data(), "-m", "immediate", "-w", "stop")
}
