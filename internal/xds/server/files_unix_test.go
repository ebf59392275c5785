//go:build unix

package server

import (
	"syscall"
	"testing"
	"time"
)

// needFiles skips the test when the process may not open n files (Go raises the soft limit to
// the hard one at start-up; nothing more can be done without privileges).
func needFiles(t testing.TB, n uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("reading the open-files limit: %v", err)
	}
	if lim.Cur < n && lim.Cur < lim.Max {
		lim.Cur = min(n, lim.Max)
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
		_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	if lim.Cur < n {
		t.Skipf("needs %d open files, the limit is %d (raise it with ulimit -n)", n, lim.Cur)
	}
}

// processCPU is the CPU time this process has used, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
