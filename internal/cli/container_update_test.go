package cli

import (
	"os"
	"strings"
	"testing"
)

// TestUpdate changes a running container's limits as `docker update`
// does: its cgroups at once, its record for inspect and its next start;
// bad input changes nothing.
func TestUpdate(t *testing.T) {
	root := busyboxRoot(t, "")
	limits := map[string]string{"pids": "/sys/fs/cgroup/pids/pids.max", "cpu": "/sys/fs/cgroup/cpu/cpu.cfs_quota_us",
		"memory": "/sys/fs/cgroup/memory/memory.limit_in_bytes"}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil { // cgroup v2
		limits = map[string]string{"pids": "/sys/fs/cgroup/pids.max", "cpu": "/sys/fs/cgroup/cpu.max", "memory": "/sys/fs/cgroup/memory.max"}
	}
	read := func(what string) string {
		t.Helper()
		return strings.TrimSpace(mustStrata(t, root, "exec", "box", "cat", limits[what]))
	}
	mustStrata(t, root, "run", "-d", "--name", "box", "busybox:test", "sleep", "300")
	if got := read("pids"); got != "2048" {
		t.Fatalf("pids.max before the update: %q", got)
	}

	if out := mustStrata(t, root, "update", "--memory", "64m", "--cpus", "0.5", "--pids-limit", "100", "box"); out != "box\n" {
		t.Errorf("update printed %q, want the container's name", out)
	}
	if got := read("pids"); got != "100" {
		t.Errorf("pids.max after --pids-limit 100: %q", got)
	}
	if got := read("cpu"); !strings.HasPrefix(got, "50000") {
		t.Errorf("the CPU quota after --cpus 0.5: %q", got)
	}
	if got := read("memory"); got != "67108864" {
		t.Errorf("the memory limit after --memory 64m: %q", got)
	}
	got := mustStrata(t, root, "inspect", "--format", "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}", "box")
	if got != "67108864 500000000 100\n" {
		t.Errorf("inspect after the update: %q", got)
	}

	// Only what is given changes; -1 lifts the pids limit.
	mustStrata(t, root, "update", "--pids-limit", "-1", "box")
	if got := read("pids"); got != "max" {
		t.Errorf("pids.max after --pids-limit -1: %q", got)
	}
	if got := read("memory"); got != "67108864" {
		t.Errorf("the memory limit changed with --pids-limit alone: %q", got)
	}

	// The next start keeps the new values.
	mustStrata(t, root, "restart", "-t", "0", "box")
	if got := read("memory"); got != "67108864" {
		t.Errorf("the memory limit after a restart: %q", got)
	}

	mustStrata(t, root, "update", "--restart", "on-failure:3", "box")
	if got := mustStrata(t, root, "inspect", "--format", "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}", "box"); got != "on-failure:3\n" {
		t.Errorf("restart policy after update: %q", got)
	}

	for _, bad := range [][]string{
		{"update", "box"},                       // nothing to change
		{"update", "--memory", "1k", "box"},     // below docker's minimum
		{"update", "--memory", "lots", "box"},   // not a size
		{"update", "--cpus", "-1", "box"},       // negative
		{"update", "--restart", "often", "box"}, // no such policy
		{"update", "--cpus", "1", "nosuch"},     // no such container
	} {
		if _, err := strata(t, root, nil, bad...); err == nil {
			t.Errorf("strata %s was taken", strings.Join(bad, " "))
		}
	}
	if got := read("memory"); got != "67108864" {
		t.Errorf("a refused update changed the memory limit: %q", got)
	}

	mustStrata(t, root, "run", "-d", "--rm", "--name", "once", "busybox:test", "sleep", "300")
	if _, err := strata(t, root, nil, "update", "--restart", "always", "once"); err == nil {
		t.Error("update --restart always of a --rm container was taken")
	}
}
