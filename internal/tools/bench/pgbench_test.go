package main

import "testing"

func TestScriptTPSReadsEachScriptsShare(t *testing.T) {
	out := `transaction type: multiple scripts
number of clients: 32
tps = 4122.658827 (without initial connection time)
SQL script 1: /tmp/subscribe.sql
 - weight: 1 (targets 50.0% of total)
 - 6246 transactions (50.4% of total, tps = 2077.125678)
 - latency average = 7.342 ms
SQL script 2: /tmp/sent.sql
 - weight: 1 (targets 50.0% of total)
 - 6151 transactions (49.6% of total, tps = 2045.533149)
`
	for n, want := range map[int]float64{1: 2077.125678, 2: 2045.533149} {
		if got, err := scriptTPS(out, n); err != nil || got != want {
			t.Errorf("scriptTPS(script %d) = %v, %v; want %v", n, got, err, want)
		}
	}
	if _, err := scriptTPS(out, 3); err == nil {
		t.Error("scriptTPS of a script pgbench did not run: no error")
	}
}
