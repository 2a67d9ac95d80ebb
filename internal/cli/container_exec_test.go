package cli

import (
	"strings"
	"testing"
)

// TestExec drives `strata exec` as a docker user would: output, status,
// -e/-u/-w, -i, -d, and the statuses of a program that cannot run.
func TestExec(t *testing.T) {
	root := busyboxRoot(t, "")
	mustStrata(t, root, "run", "-d", "--name", "box", "-e", "FROM_RUN=yes", "busybox:test", "sleep", "300")
	cases := []struct {
		name   string
		args   []string
		stdin  string
		out    string
		status int
	}{
		{"output and env", []string{"exec", "box", "sh", "-c", "echo $FROM_RUN $(hostname | wc -c)"}, "", "yes 13\n", 0},
		{"status", []string{"exec", "box", "sh", "-c", "exit 7"}, "", "", 7},
		{"-e -u -w", []string{"exec", "-e", "X=1", "-u", "app", "-w", "/tmp", "box", "sh", "-c", "echo $X $(pwd) $(id -un)"}, "", "1 /tmp app\n", 0},
		{"-i", []string{"exec", "-i", "box", "wc", "-c"}, "abc", "3\n", 0},
		{"no stdin without -i", []string{"exec", "box", "wc", "-c"}, "abc", "0\n", 0},
		{"-d", []string{"exec", "-d", "box", "sh", "-c", "echo detached > /tmp/d"}, "", "", 0},
		{"not found", []string{"exec", "box", "nope"}, "", "", 126},
		{"cannot run", []string{"exec", "box", "/etc/passwd"}, "", "", 126},
		{"no such container", []string{"exec", "nosuch", "true"}, "", "", 125},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := strata(t, root, []byte(c.stdin), c.args...)
			if exitStatus(err) != c.status || out != c.out {
				t.Fatalf("stdout %q, status %d (%v); want %q, %d", out, exitStatus(err), err, c.out, c.status)
			}
		})
	}
	if out := mustStrata(t, root, "exec", "box", "sh", "-c", "sleep 0.2; cat /tmp/d"); out != "detached\n" {
		t.Errorf("exec -d did not run: %q", out)
	}
	mustStrata(t, root, "stop", "-t", "0", "box")
	if _, err := strata(t, root, nil, "exec", "box", "true"); exitStatus(err) != 125 || !strings.Contains(err.Error(), "not running") {
		t.Errorf("exec in a stopped container: %v", err)
	}
}
