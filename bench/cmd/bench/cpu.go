package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// CPU accounting per timed run: on two shared cores the CPU a process
// burns per request is what decides throughput, and it is far steadier
// under noise than req/s, so every keep-alive run records it for the
// processes on the request's path.

// clockTick is USER_HZ, the unit of /proc/PID/stat's times: 100 on every
// Linux architecture the bench runs on.
const clockTick = 10 * time.Millisecond

// statTimes returns the process group and the user+system CPU time of
// pid from /proc/PID/stat; with children, also that of its children that
// have exited and been waited for.
func statTimes(pid int, children bool) (pgrp int, cpu time.Duration, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command name (field 2) may contain blanks: fields are counted
	// from the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	pgrp, _ = strconv.Atoi(f[2])             // field 5
	u, _ := strconv.ParseInt(f[11], 10, 64)  // field 14, utime
	st, _ := strconv.ParseInt(f[12], 10, 64) // field 15, stime
	return pgrp, time.Duration(u+st) * clockTick, nil
}

// groupCPU is the CPU time used by the processes that match: the live
// ones and their exited children (Apache's workers, Samba's forks).
func groupCPU(match func(pid, pgrp int) bool) time.Duration {
	ds, _ := filepath.Glob("/proc/[0-9]*")
	var sum time.Duration
	for _, d := range ds {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		if g, cpu, err := statTimes(pid, true); err == nil && match(pid, g) {
			sum += cpu
		}
	}
	return sum
}

// inGroup matches the processes of process group pgid.
func inGroup(pgid int) func(pid, pgrp int) bool {
	return func(_, pgrp int) bool { return pgrp == pgid }
}

// sameMountNS matches the processes in the mount namespace of pid: a
// stack's DC runs in a private one (scripts/dc.sh), and Samba renames its
// processes, so this is what tells them from other DCs on the machine.
func sameMountNS(pid int) func(pid, pgrp int) bool {
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", pid))
	return func(p, _ int) bool {
		if err != nil {
			return false
		}
		l, e := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", p))
		return e == nil && l == ns
	}
}

// cpuMeter samples the CPU time of named processes.
type cpuMeter struct {
	pids   map[string]int                      // single processes
	groups map[string]func(pid, pgrp int) bool // sets of processes
}

func (m *cpuMeter) sample() map[string]time.Duration {
	out := map[string]time.Duration{}
	for name, pid := range m.pids {
		if _, cpu, err := statTimes(pid, false); err == nil {
			out[name] = cpu
		}
	}
	for name, match := range m.groups {
		out[name] = groupCPU(match)
	}
	return out
}

// perRequest is the CPU each process used between two samples, in µs per
// request.
func perRequest(before, after map[string]time.Duration, requests int) map[string]float64 {
	if requests == 0 {
		return nil
	}
	out := map[string]float64{}
	for name, a := range after {
		if b, ok := before[name]; ok && a >= b {
			out[name] = float64(a-b) / float64(time.Microsecond) / float64(requests)
		}
	}
	return out
}

// formatCPU prints a perRequest map in a stable order.
func formatCPU(m map[string]float64) string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s %.0f", n, m[n])
	}
	return b.String()
}

// cpuMeter measures the processes a keep-alive request can go through:
// the stack's authorizer, the trivial one, the bench Apache (its process
// group: parent and workers), the load generator itself, and the DC (whose
// background work after the logins that start each NTLM run competes for
// the same cores).
func (r *runner) cpuMeter() *cpuMeter {
	m := &cpuMeter{pids: map[string]int{"bench": os.Getpid()}, groups: map[string]func(pid, pgrp int) bool{}}
	if pid, err := strconv.Atoi(readFileString(filepath.Join(r.env["DC_DIR"], "samba.pid"))); err == nil {
		m.groups["dc"] = sameMountNS(pid)
	}
	if pid, err := r.authzPid(); err == nil {
		m.pids["authz"] = pid
	}
	if r.site.triv != nil {
		m.pids["trivial"] = r.site.triv.cmd.Process.Pid
	}
	if r.site.apache != nil {
		m.groups["apache"] = inGroup(r.site.apache.cmd.Process.Pid) // started with Setpgid
	}
	return m
}
