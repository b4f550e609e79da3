package main

import (
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// httpClient keeps connections alive and never follows redirects.
var httpClient = &http.Client{
	Timeout: 30 * time.Second,
	Transport: &http.Transport{
		MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute,
	},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// result is one workload's measurements.
type result struct {
	Name      string
	Requests  int
	Errors    int
	Seconds   float64
	RPS       float64
	P50, P99  time.Duration
	CPU       map[string]float64 // CPU seconds per process over the window
	FirstFail string
}

// op makes one call of a workload and returns what went wrong, or "".
type op func(rng *rand.Rand) string

// shared is newOp for an op that any goroutine may call.
func shared(o op) func() op { return func() op { return o } }

// load runs conns goroutines, each calling the op newOp gives it: warmup
// first (not measured), then for duration, recording each call's latency.
func load(name string, conns int, warmup, duration time.Duration, meter *cpuMeter, newOp func() op) result {
	var (
		measuring atomic.Bool
		stop      atomic.Bool
		mu        sync.Mutex
		latencies []time.Duration
		errors    int
		firstFail string
		wg        sync.WaitGroup
	)
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c)+1, uint64(time.Now().UnixNano())))
			op := newOp()
			var local []time.Duration
			localErrors, localFail := 0, ""
			for !stop.Load() {
				start := time.Now()
				fail := op(rng)
				if !measuring.Load() {
					continue
				}
				local = append(local, time.Since(start))
				if fail != "" {
					localErrors++
					if localFail == "" {
						localFail = fail
					}
				}
			}
			mu.Lock()
			latencies = append(latencies, local...)
			errors += localErrors
			if firstFail == "" {
				firstFail = localFail
			}
			mu.Unlock()
		}()
	}
	time.Sleep(warmup)
	meter.begin()
	began := time.Now()
	measuring.Store(true)
	time.Sleep(duration)
	measuring.Store(false)
	elapsed := time.Since(began).Seconds()
	cpu := meter.end()
	stop.Store(true)
	wg.Wait()
	return summarise(name, latencies, errors, elapsed, cpu, firstFail)
}

func summarise(name string, latencies []time.Duration, errors int, seconds float64, cpu map[string]float64, firstFail string) result {
	slices.Sort(latencies)
	r := result{Name: name, Requests: len(latencies), Errors: errors, Seconds: seconds, CPU: cpu, FirstFail: firstFail}
	if len(latencies) > 0 {
		r.RPS = float64(len(latencies)) / seconds
		r.P50 = latencies[len(latencies)/2]
		r.P99 = latencies[len(latencies)*99/100]
	}
	return r
}

// paced is the open-loop counterpart of load: it calls the op newOp gives
// rate times a second on a fixed schedule, warmup first and then duration,
// with up to conns calls in flight. Each call's latency runs from when it
// was due, not from when a goroutine was free to make it, so a slow answer
// counts against every call queued behind it (no coordinated omission).
func paced(name string, rate, conns int, warmup, duration time.Duration, meter *cpuMeter, newOp func() op) result {
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	from, to := start.Add(warmup), start.Add(warmup+duration)
	due := make(chan time.Time, rate) // up to a second behind before the schedule waits
	var (
		mu        sync.Mutex
		latencies []time.Duration
		errors    int
		firstFail string
		wg        sync.WaitGroup
	)
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c)+1, uint64(time.Now().UnixNano())))
			op := newOp()
			var local []time.Duration
			localErrors, localFail := 0, ""
			for d := range due {
				fail := op(rng)
				if d.Before(from) {
					continue
				}
				local = append(local, time.Since(d))
				if fail != "" {
					localErrors++
					if localFail == "" {
						localFail = fail
					}
				}
			}
			mu.Lock()
			latencies = append(latencies, local...)
			errors += localErrors
			if firstFail == "" {
				firstFail = localFail
			}
			mu.Unlock()
		}()
	}
	go func() {
		defer close(due)
		for i := time.Duration(0); ; i++ {
			d := start.Add(i * interval)
			if !d.Before(to) {
				return
			}
			time.Sleep(time.Until(d))
			due <- d
		}
	}()
	time.Sleep(time.Until(from))
	meter.begin()
	time.Sleep(time.Until(to))
	cpu := meter.end()
	wg.Wait()
	return summarise(name, latencies, errors, duration.Seconds(), cpu, firstFail)
}
