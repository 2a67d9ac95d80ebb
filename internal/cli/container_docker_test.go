package cli

import (
	"bytes"
	"errors"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/strata-dev/strata/internal/testutil"
)

// TestContainersMatchDocker runs the same container commands in strata and
// in docker 20.10 (a private dockerd) on the same image, and compares what
// a script sees: standard output and exit status. Both run with --network
// none (docker's bridge is off here). Names are the same on both sides;
// IDs and times are masked.
func TestContainersMatchDocker(t *testing.T) {
	root := busyboxRoot(t, "")
	d := testutil.StartDocker(t)
	archive := mustStrata(t, root, "save", "busybox:test")
	load := d.Command("load")
	load.Stdin = strings.NewReader(archive)
	if out, err := load.CombinedOutput(); err != nil {
		t.Fatalf("docker load: %v: %s", err, out)
	}
	docker := func(args ...string) (string, int) {
		var out bytes.Buffer
		cmd := d.Command(args...)
		cmd.Stdout = &out
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return out.String(), ee.ExitCode()
		}
		return out.String(), 0
	}
	steps := [][]string{
		{"run", "--network", "none", "--name", "c1", "busybox:test", "sh", "-c", "echo out; echo err >&2; exit 3"},
		{"run", "--rm", "--network", "none", "busybox:test", "nope"},
		{"run", "--rm", "--network", "none", "busybox:test", "/etc/passwd"},
		{"run", "--rm", "--network", "none", "--no-such-flag", "busybox:test", "true"},
		{"run", "--rm", "--network", "none", "-e", "A=1", "-w", "/tmp", "-u", "app", "busybox:test", "sh", "-c", "echo $A $(pwd) $(id -un)"},
		{"logs", "c1"},
		{"inspect", "-f", "{{.State.Status}} {{.State.ExitCode}} {{.Name}} {{.Path}} {{.Args}} {{.HostConfig.NetworkMode}}", "c1"},
		{"ps", "-a", "--format", "{{.Names}}|{{.Image}}|{{.Command}}|{{.State}}"},
		{"create", "--network", "none", "--name", "c2", "-l", "x=y", "busybox:test", "sh", "-c", "exit 5"},
		{"ps", "-a", "--filter", "status=created", "--format", "{{.Names}} {{.Labels}}"},
		{"start", "-a", "c2"},
		{"wait", "c2"},
		{"run", "-d", "--network", "none", "--name", "c3", "busybox:test", "sleep", "300"},
		{"exec", "c3", "sh", "-c", "echo in; exit 4"},
		{"exec", "c3", "nope"},
		{"exec", "c3", "/etc/passwd"},
		{"exec", "c3", "/no/such/dir/prog"},
		{"pause", "c3"},
		{"inspect", "-f", "{{.State.Status}} {{.State.Paused}} {{.State.Running}}", "c3"},
		{"unpause", "c3"},
		{"rename", "c3", "c4"},
		{"kill", "-s", "KILL", "c4"},
		{"wait", "c4"},
		{"ps", "-a", "-n", "1", "--format", "{{.Names}} {{.State}}"},
		{"rm", "c1", "c2", "c4"},
		{"ps", "-aq"},
		{"inspect", "nosuch"},
	}
	id := regexp.MustCompile(`\b[0-9a-f]{64}\b`)
	runtimeError := regexp.MustCompile(`(?m)^OCI runtime .*\n?`) // docker prints it on stdout
	for _, s := range steps {
		want, wantCode := docker(s...)
		got, err := strata(t, root, nil, s...)
		want = runtimeError.ReplaceAllString(id.ReplaceAllString(want, "ID"), "")
		got = id.ReplaceAllString(got, "ID")
		gotCode := exitStatus(err)
		if strings.TrimSpace(got) != strings.TrimSpace(want) || gotCode != wantCode {
			t.Errorf("%s:\n strata: %q, status %d\n docker: %q, status %d", strings.Join(s, " "), got, gotCode, want, wantCode)
		}
	}
}
