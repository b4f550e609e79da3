// Package proc is the test rig for email-alert as it is deployed: the real
// binary run as processes, against a private redis-server, a throwaway
// PostgreSQL cluster or a fresh schema of the test PostgreSQL, and a fake
// GOV.UK Notify. Tests that kill processes, stop PostgreSQL or flush
// Redis use it; tests of the app in their own process use testrig.
//
// It imports nothing of the app, so every package may use it, the app's
// own internal tests included, and so may the benchmark, a program.
//
// What it promises:
//   - Everything a helper starts is stopped, and everything it creates is
//     removed, when the test that asked for it ends (t.Cleanup): tests never
//     share a process, a port, a cluster or a Redis.
//   - A process's output is kept and shown when its test fails (the last
//     lines that are not 2xx request logs), never lost and never noise.
//   - The email-alert binary is built once per test binary run, however
//     many tests start it; a package that uses [Binary] calls [RunTests]
//     from its TestMain so the build is removed afterwards.
//   - A missing dependency (redis-server, initdb) fails the test, never
//     skips it: `make test` installs them.
//
// Helpers take a testing.TB and fail the test on error. The few that take
// none ([BuildBinary], [Notify]) are shared with the benchmark.
package proc
