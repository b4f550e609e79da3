package main

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestPacedCountsTheQueueBehindASlowAnswer: one connection that takes
// 20 ms a call cannot keep up with 100 calls a second, so the calls queue,
// and each call's latency must include its wait from when it was due. A
// closed loop (or a latency timed from the call's start) would give 20 ms.
func TestPacedCountsTheQueueBehindASlowAnswer(t *testing.T) {
	slow := shared(func(*rand.Rand) string { time.Sleep(20 * time.Millisecond); return "" })
	res := paced("slow", 100, 1, 0, 500*time.Millisecond, &cpuMeter{}, slow)
	if res.Requests != 50 {
		t.Errorf("requests = %d, want the 50 due in the window", res.Requests)
	}
	// The 50th call was due at 490 ms and started after 49 calls of 20 ms.
	if res.P99 < 400*time.Millisecond {
		t.Errorf("p99 = %s, want the queue's wait in it (about 500 ms)", res.P99)
	}
}

// TestPacedKeepsTheRate: calls faster than the schedule come at its rate,
// their latency their own, and the warm-up's calls are not counted.
func TestPacedKeepsTheRate(t *testing.T) {
	fast := shared(func(*rand.Rand) string { return "" })
	res := paced("fast", 200, 4, 100*time.Millisecond, 500*time.Millisecond, &cpuMeter{}, fast)
	if res.Requests != 100 {
		t.Errorf("requests = %d, want the 100 due in the 500 ms window", res.Requests)
	}
	if res.RPS < 199 || res.RPS > 201 {
		t.Errorf("rate = %.1f/s, want 200/s", res.RPS)
	}
	if res.P50 > 20*time.Millisecond {
		t.Errorf("p50 = %s for a call that returns at once", res.P50)
	}
}

// TestPacedCountsFailures: every failed call in the window is an error,
// and the first one's message is kept.
func TestPacedCountsFailures(t *testing.T) {
	failing := shared(func(*rand.Rand) string { return "boom" })
	res := paced("failing", 100, 2, 0, 200*time.Millisecond, &cpuMeter{}, failing)
	if res.Errors != res.Requests || res.Errors != 20 || res.FirstFail != "boom" {
		t.Errorf("errors %d of %d, first %q; want 20 of 20, boom", res.Errors, res.Requests, res.FirstFail)
	}
}
