package cli

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/strata-dev/strata/internal/testutil"
)

// monitorPid finds the strata process that watches the detached containers
// of the store at root (one for them all).
func monitorPid(t *testing.T, root string) int {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, _ := os.ReadFile(p)
		if strings.Contains(string(b), "--root\x00"+root+"\x00") && strings.Contains(string(b), "\x00container\x00monitor\x00") {
			pid, _ := strconv.Atoi(strings.Split(p, "/")[2])
			return pid
		}
	}
	t.Fatalf("no monitor for the store at %s", root)
	return 0
}

// TestRestartPolicies: on-failure:N restarts a failing container N times,
// always restarts one that exits until it is stopped by hand, and after a
// "reboot" (its monitor and runc's container killed, as a reboot would)
// `container restore` starts what the policies want running.
func TestRestartPolicies(t *testing.T) {
	root := busyboxRoot(t, "")
	mustStrata(t, root, "run", "-d", "--name", "flaky", "--restart", "on-failure:2", "busybox:test", "sh", "-c", "echo try; exit 3")
	waitLog(t, root, "flaky", "try\ntry\ntry\n")
	if !testutil.WaitFor(10*time.Second, func() bool {
		return mustStrata(t, root, "inspect", "-f", "{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}", "flaky") == "2 exited 3\n"
	}) {
		t.Errorf("on-failure:2: %q", mustStrata(t, root, "inspect", "-f", "{{.RestartCount}} {{.State.Status}}", "flaky"))
	}

	mustStrata(t, root, "run", "-d", "--name", "svc", "--restart", "always", "busybox:test", "sh", "-c", "echo up; sleep 0.3")
	waitLog(t, root, "svc", "up\nup\n")
	mustStrata(t, root, "stop", "-t", "1", "svc")
	time.Sleep(time.Second)
	if got := mustStrata(t, root, "inspect", "-f", "{{.State.Status}}", "svc"); got != "exited\n" {
		t.Errorf("always, after stop: %q, want it to stay stopped", got)
	}

	id := strings.TrimSpace(mustStrata(t, root, "run", "-d", "--name", "daemon", "--restart", "unless-stopped", "busybox:test", "sleep", "300"))
	syscall.Kill(monitorPid(t, root), syscall.SIGKILL) // the store's one: nothing else runs
	testutil.Run(t, nil, "runc", "--root", root+"/runc", "kill", id, "KILL")
	if got := mustStrata(t, root, "inspect", "-f", "{{.State.Status}}", "daemon"); got != "exited\n" {
		t.Errorf("after the 'reboot': %q", got)
	}
	if out := mustStrata(t, root, "container", "restore"); !strings.Contains(out, "daemon") || strings.Contains(out, "svc") || strings.Contains(out, "flaky") {
		t.Errorf("restore started %q, want daemon alone", out)
	}
	if got := mustStrata(t, root, "inspect", "-f", "{{.State.Status}}", "daemon"); got != "running\n" {
		t.Errorf("after restore: %q", got)
	}
	if _, err := strata(t, root, nil, "run", "--rm", "--restart", "always", "busybox:test", "true"); exitStatus(err) != 125 {
		t.Errorf("--rm with --restart: %v", err)
	}
}
