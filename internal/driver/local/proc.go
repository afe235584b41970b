package local

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// procStat is what the driver needs from /proc/PID/stat.
type procStat struct {
	state     byte   // R, S, D, Z, T...
	pgrp      int    // process group
	session   int    // session id
	starttime uint64 // clock ticks after boot; with pid, names a process uniquely
}

// readStat parses /proc/PID/stat. The command name (field 2) may contain
// spaces and parentheses, so fields are counted from its last ')'.
func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return procStat{}, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	// After ')': state(3) ppid(4) pgrp(5) session(6) ... starttime(22).
	f := strings.Fields(s[i+2:])
	if len(f) < 20 {
		return procStat{}, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	var st procStat
	st.state = f[0][0]
	if st.pgrp, err = strconv.Atoi(f[2]); err != nil {
		return procStat{}, fmt.Errorf("/proc/%d/stat pgrp: %v", pid, err)
	}
	if st.session, err = strconv.Atoi(f[3]); err != nil {
		return procStat{}, fmt.Errorf("/proc/%d/stat session: %v", pid, err)
	}
	if st.starttime, err = strconv.ParseUint(f[19], 10, 64); err != nil {
		return procStat{}, fmt.Errorf("/proc/%d/stat starttime: %v", pid, err)
	}
	return st, nil
}

// alive reports whether the process pid that started at starttime still
// runs. A zombie counts as gone: it has exited and only waits to be reaped.
func alive(pid int, starttime uint64) bool {
	st, err := readStat(pid)
	return err == nil && st.starttime == starttime && st.state != 'Z' && st.state != 'X'
}

// handle formats the driver handle of a supervisor process.
func formatHandle(pid int, starttime uint64) string {
	return fmt.Sprintf("pid:%d:%d", pid, starttime)
}

// parseHandle reads a handle made by formatHandle.
func parseHandle(h string) (pid int, starttime uint64, err error) {
	parts := strings.Split(h, ":")
	if len(parts) != 3 || parts[0] != "pid" {
		return 0, 0, fmt.Errorf("malformed local handle %q, want pid:PID:STARTTIME", h)
	}
	pid, err = strconv.Atoi(parts[1])
	if err != nil || pid <= 0 {
		return 0, 0, fmt.Errorf("malformed local handle %q: bad pid", h)
	}
	starttime, err = strconv.ParseUint(parts[2], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("malformed local handle %q: bad start time", h)
	}
	return pid, starttime, nil
}

// signals names the Linux signals a job may be sent or killed by.
var signals = []struct {
	name string
	sig  syscall.Signal
}{
	{"SIGHUP", 1}, {"SIGINT", 2}, {"SIGQUIT", 3}, {"SIGILL", 4}, {"SIGTRAP", 5},
	{"SIGABRT", 6}, {"SIGBUS", 7}, {"SIGFPE", 8}, {"SIGKILL", 9}, {"SIGUSR1", 10},
	{"SIGSEGV", 11}, {"SIGUSR2", 12}, {"SIGPIPE", 13}, {"SIGALRM", 14}, {"SIGTERM", 15},
	{"SIGSTKFLT", 16}, {"SIGCHLD", 17}, {"SIGCONT", 18}, {"SIGSTOP", 19}, {"SIGTSTP", 20},
	{"SIGTTIN", 21}, {"SIGTTOU", 22}, {"SIGURG", 23}, {"SIGXCPU", 24}, {"SIGXFSZ", 25},
	{"SIGVTALRM", 26}, {"SIGPROF", 27}, {"SIGWINCH", 28}, {"SIGIO", 29}, {"SIGPWR", 30},
	{"SIGSYS", 31},
}

// signalName returns "SIGSEGV" for 11, "SIG34" for real-time signals.
func signalName(s syscall.Signal) string {
	for _, e := range signals {
		if e.sig == s {
			return e.name
		}
	}
	return fmt.Sprintf("SIG%d", int(s))
}

// parseSignal accepts "SIGUSR1", "USR1" or "10".
func parseSignal(name string) (syscall.Signal, error) {
	n := strings.ToUpper(strings.TrimSpace(name))
	if v, err := strconv.Atoi(n); err == nil {
		if v <= 0 || v > 64 {
			return 0, fmt.Errorf("signal number %d out of range", v)
		}
		return syscall.Signal(v), nil
	}
	if !strings.HasPrefix(n, "SIG") {
		n = "SIG" + n
	}
	for _, e := range signals {
		if e.name == n {
			return e.sig, nil
		}
	}
	return 0, fmt.Errorf("unknown signal %q", name)
}

// groupMembers lists the live processes of process group pgid.
func groupMembers(pgid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readStat(pid); err == nil && st.pgrp == pgid && st.state != 'Z' {
			out = append(out, pid)
		}
	}
	return out
}
