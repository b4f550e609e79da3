package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat CPU times on Linux.
const clockTicks = 100

// cpuSeconds returns the CPU time (user + system) pid has used.
func cpuSeconds(pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses.
	fields := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / clockTicks
}

// peakRSS returns pid's peak resident set size in MB (VmHWM).
func peakRSS(pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			kb, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// pidsNamed returns the pids whose command name is name (postgres,
// redis-server).
func pidsNamed(name string) []int {
	var pids []int
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range dirs {
		comm, err := os.ReadFile(filepath.Join(dir, "comm"))
		if err == nil && strings.TrimSpace(string(comm)) == name {
			pid, _ := strconv.Atoi(filepath.Base(dir))
			pids = append(pids, pid)
		}
	}
	return pids
}

// cpuMeter samples the CPU used by the service's processes, PostgreSQL
// (all its processes), Redis, this program (the load generator) and the
// whole machine over a window.
type cpuMeter struct {
	procs map[string]*exec.Cmd
	start map[string]float64
}

// Keys of a cpuMeter sample besides the service's processes.
const (
	cpuLoadGenerator = "load generator"
	cpuMachine       = "machine"
)

func (m *cpuMeter) sample() map[string]float64 {
	out := map[string]float64{}
	for name, cmd := range m.procs {
		out[name] = cpuSeconds(cmd.Process.Pid)
	}
	for _, name := range []string{"postgres", "redis-server"} {
		for _, pid := range pidsNamed(name) {
			out[name] += cpuSeconds(pid)
		}
	}
	out[cpuLoadGenerator] = cpuSeconds(os.Getpid())
	out[cpuMachine] = machineBusySeconds()
	return out
}

// machineBusySeconds returns the CPU time all cores have spent working
// (not idle, waiting for I/O or taken by the hypervisor), from /proc/stat:
// the kernel's own work (the loopback network, for one) is in it, and so is
// anything else running.
func machineBusySeconds() float64 {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	fields := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(fields) < 8 || fields[0] != "cpu" {
		return 0
	}
	busy := 0.0
	for i, f := range fields[1:8] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		ticks, _ := strconv.ParseFloat(f, 64)
		busy += ticks
	}
	return busy / clockTicks
}

func (m *cpuMeter) begin() { m.start = m.sample() }

// end returns the CPU seconds each process used since begin.
func (m *cpuMeter) end() map[string]float64 {
	now := m.sample()
	used := map[string]float64{}
	for name, v := range now {
		used[name] = v - m.start[name]
	}
	return used
}

// waitReady polls url until it answers 200.
func waitReady(url string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		resp, err := httpClient.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %s", url, limit)
}

// startProc starts `bin command` with env, its output going to a new file
// at logPath.
func startProc(bin, command string, env []string, logPath string) (*exec.Cmd, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the process has its own descriptor
	cmd := exec.Command(bin, command)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", command, err)
	}
	return cmd, nil
}

// stopProc interrupts cmd, as on SIGTERM, and kills it if it has not
// exited within grace. It does nothing to a process already waited for.
func stopProc(cmd *exec.Cmd, grace time.Duration) {
	if cmd.ProcessState != nil {
		return
	}
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
	}
}
