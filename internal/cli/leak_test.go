package cli

import (
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/strata-dev/strata/internal/testutil"
)

// mountsUnder lists the mount points under dir.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			out = append(out, f[4])
		}
	}
	return out
}

// TestNoLeaks: an export whose reader goes early (export | head) leaves no
// mount behind, and a foreground run --rm whose strata process is killed
// with SIGKILL is cleaned up by the next strata command: the container
// (which runc went on running) killed and removed, nothing left mounted.
func TestNoLeaks(t *testing.T) {
	root := busyboxRoot(t, "")
	mustStrata(t, root, "create", "--name", "exported", "busybox:test", "true")
	export := strataProcess(t, root, "export", "exported")
	out, err := export.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := export.Start(); err != nil {
		t.Fatal(err)
	}
	io.ReadFull(out, make([]byte, 100))
	out.Close() // as head does after its lines
	export.Wait()
	if m := mountsUnder(t, root); len(m) > 0 {
		t.Errorf("export | head left mounts: %v", m)
	}

	run := strataProcess(t, root, "run", "--rm", "--name", "killed", "busybox:test", "sleep", "300")
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	if !testutil.WaitFor(20*time.Second, func() bool {
		return strings.Contains(mustStrata(t, root, "ps", "--format", "{{.Names}}"), "killed")
	}) {
		t.Fatal("the container did not start")
	}
	run.Process.Kill()
	run.Wait()
	if got := mustStrata(t, root, "ps", "-a", "--format", "{{.Names}}"); strings.Contains(got, "killed") {
		t.Errorf("after the run --rm was killed, the next command still lists it: %q", got)
	}
	if m := mountsUnder(t, root); len(m) > 0 {
		t.Errorf("the killed run left mounts: %v", m)
	}
	if list := testutil.Run(t, nil, "runc", "--root", root+"/runc", "list", "-q"); strings.TrimSpace(list) != "" {
		t.Errorf("runc still runs %q", list)
	}
	if ps := processesNaming(t, root); len(ps) > 0 {
		t.Errorf("processes of the killed run are left: %q", ps)
	}
}

// processesNaming lists the command lines of the processes that name a
// path under dir (a slirp4netns of its network, a runc), but this one.
func processesNaming(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.Name() == strconv.Itoa(os.Getpid()) {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && strings.Contains(string(b), dir+"/") {
			out = append(out, strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return out
}
