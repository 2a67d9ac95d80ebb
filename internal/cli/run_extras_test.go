package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunEverydayFlags: --init, --read-only, --tmpfs, --ulimit, --shm-size,
// --device, --cidfile and --pull, each seen from inside the container as a
// docker user checks it, and their bad values refused with status 125.
func TestRunEverydayFlags(t *testing.T) {
	root := busyboxRoot(t, "")
	cid := filepath.Join(t.TempDir(), "cid")
	cases := []struct {
		name string
		args []string
		cmd  string
		want string
	}{
		{"init", []string{"--init"}, "cat /proc/1/cmdline | tr '\\0' ' '", "/sbin/docker-init -- sh -c"},
		{"read-only", []string{"--read-only"}, "touch /x 2>&1; true", "Read-only file system"},
		{"tmpfs", []string{"--read-only", "--tmpfs", "/run:size=1m"}, "touch /run/x && df /run | tail -1", "1024"},
		{"ulimit", []string{"--ulimit", "nofile=123:456"}, "ulimit -n; ulimit -Hn", "123\n456\n"},
		{"shm-size", []string{"--shm-size", "8m"}, "df /dev/shm | tail -1", "8192"},
		{"device", []string{"--device", "/dev/null:/dev/mynull"}, "echo x > /dev/mynull && echo written", "written"},
		{"cidfile", []string{"--cidfile", cid}, "true", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append(append([]string{"run", "--rm"}, c.args...), "busybox:test", "sh", "-c", c.cmd)
			if out := mustStrata(t, root, args...); !strings.Contains(out, c.want) {
				t.Errorf("%s: %q, want %q", c.cmd, out, c.want)
			}
		})
	}
	if b, err := os.ReadFile(cid); err != nil || len(b) != 64 {
		t.Errorf("--cidfile wrote %q, %v", b, err)
	}
	for _, bad := range [][]string{{"--cidfile", cid}, {"--ulimit", "nofile=9:1"}, {"--ulimit", "bogus=1"}, {"--device", "/etc/passwd"},
		{"--shm-size", "lots"}, {"--pull", "sometimes"}, {"--pull", "never", "--", "nosuch:1"}} {
		args := append(append([]string{"run", "--rm"}, bad...), "busybox:test", "true")
		if bad[len(bad)-1] == "nosuch:1" {
			args = []string{"run", "--rm", "--pull", "never", "nosuch:1", "true"}
		}
		if _, err := strata(t, root, nil, args...); exitStatus(err) != 125 {
			t.Errorf("strata %s: status %d (%v), want 125", strings.Join(args, " "), exitStatus(err), err)
		}
	}
}
