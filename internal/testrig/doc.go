// Package testrig is the one place tests get what they run against: the
// email-alert binary and its processes, a private redis-server, a throwaway
// PostgreSQL cluster, a fresh schema, a fake GOV.UK Notify.
//
// What it promises:
//   - Everything a helper starts is stopped, and everything it creates is
//     removed, when the test that asked for it ends (t.Cleanup): tests never
//     share a process, a port, a schema or a Redis.
//   - A process's output is kept and shown when its test fails (the last
//     lines that are not 2xx request logs), never lost and never noise.
//   - The email-alert binary is built once per test binary run, however
//     many tests start it; a package that uses [Binary] calls [RunTests]
//     from its TestMain so the build is removed afterwards.
//   - A missing dependency (redis-server, initdb) fails the test, never
//     skips it: `make test` installs them.
//
// Helpers take a testing.TB and fail the test on error. The few that take
// none ([BuildBinary], [Notify]) are shared with the benchmark, a program.
package testrig
