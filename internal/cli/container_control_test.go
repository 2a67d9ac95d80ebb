package cli

import (
	"strings"
	"testing"
)

// TestContainerControl drives the commands that act on containers as a
// docker user would: create and start -a, inspect (of a container and of
// an image, by the same command), top, stats, pause and unpause, rename,
// kill -s, wait, restart, and the exit statuses.
func TestContainerControl(t *testing.T) {
	root := busyboxRoot(t, "")
	id := strings.TrimSpace(mustStrata(t, root, "create", "--name", "job", "-l", "team=a", "busybox:test", "sh", "-c", "echo done; exit 4"))
	if got := mustStrata(t, root, "inspect", "-f", "{{.State.Status}} {{.Name}} {{.Config.Labels.team}}", "job"); got != "created /job a\n" {
		t.Errorf("inspect of a created container: %q", got)
	}
	out, err := strata(t, root, nil, "start", "-a", "job")
	if out != "done\n" || exitStatus(err) != 4 {
		t.Errorf("start -a: %q, status %d", out, exitStatus(err))
	}
	if got := mustStrata(t, root, "container", "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}} {{.Id}}", "job"); got != "exited 4 "+id+"\n" {
		t.Errorf("inspect after it ran: %q", got)
	}
	if got := mustStrata(t, root, "inspect", "-f", "{{.RepoTags}}", "busybox:test"); got != "[busybox:test]\n" {
		t.Errorf("inspect finds images too: %q", got)
	}

	mustStrata(t, root, "run", "-d", "--name", "web", "busybox:test", "sh", "-c", "trap 'exit 9' HUP; echo ready; while true; do sleep 0.1; done")
	insp := mustStrata(t, root, "inspect", "-f", "{{.State.Running}} {{.State.Pid}} {{.NetworkSettings.IPAddress}}", "web")
	if f := strings.Fields(insp); len(f) != 3 || f[0] != "true" || f[1] == "0" || !strings.HasPrefix(f[2], "10.88.") {
		t.Errorf("inspect of a running container: %q", insp)
	}
	if top := mustStrata(t, root, "top", "web"); !strings.Contains(top, "PID") || !strings.Contains(top, "while true") {
		t.Errorf("top: %q", top)
	}
	stats := mustStrata(t, root, "stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}} {{.MemUsage}}")
	if f := strings.Fields(stats); len(f) < 3 || f[0] != "web" || f[1] == "0" || !strings.Contains(stats, "iB / ") {
		t.Errorf("stats: %q", stats)
	}
	mustStrata(t, root, "pause", "web")
	if got := mustStrata(t, root, "inspect", "-f", "{{.State.Status}} {{.State.Paused}}", "web"); got != "paused true\n" {
		t.Errorf("after pause: %q", got)
	}
	if _, err := strata(t, root, nil, "pause", "web"); err == nil {
		t.Errorf("pausing a paused container succeeded")
	}
	mustStrata(t, root, "unpause", "web")
	mustStrata(t, root, "rename", "web", "site")
	if _, err := strata(t, root, nil, "rename", "site", "job"); err == nil || !strings.Contains(err.Error(), "already in use") {
		t.Errorf("rename onto a used name: %v", err)
	}
	waitLog(t, root, "site", "ready\n")
	mustStrata(t, root, "restart", "-t", "1", "site")
	waitLog(t, root, "site", "ready\nready\n") // its trap is set: a HUP before would be lost on PID 1
	if got := mustStrata(t, root, "inspect", "-f", "{{.State.Running}}", "site"); got != "true\n" {
		t.Errorf("after restart: %q", got)
	}
	mustStrata(t, root, "kill", "-s", "HUP", "site")
	if got := mustStrata(t, root, "wait", "site"); got != "9\n" {
		t.Errorf("wait after kill -s HUP: %q", got)
	}
	if _, err := strata(t, root, nil, "kill", "site"); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Errorf("kill of a stopped container: %v", err)
	}
	if _, err := strata(t, root, nil, "kill", "-s", "NOPE", "site"); err == nil {
		t.Errorf("kill -s NOPE succeeded")
	}
}

// TestPsAndLogs: ps --filter (ANDed keys, ORed values), -n, -l, -s and its
// --format fields; logs --since and --until.
func TestPsAndLogs(t *testing.T) {
	root := busyboxRoot(t, "")
	strata(t, root, nil, "run", "--name", "one", "-l", "team=a", "busybox:test", "sh", "-c", "exit 1")
	mustStrata(t, root, "run", "--name", "two", "-l", "team=b", "-v", t.TempDir()+":/data", "busybox:test", "sh", "-c", "echo x > /f")
	mustStrata(t, root, "run", "-d", "--name", "three", "-l", "team=a", "busybox:test", "sh", "-c", "echo early; sleep 1.5; echo late; sleep 300")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"ps", "--format", "{{.Names}}"}, "three\n"},
		{[]string{"ps", "-a", "--filter", "label=team=a", "--format", "{{.Names}}"}, "three\none\n"},
		{[]string{"ps", "-a", "--filter", "label=team=a", "--filter", "status=exited", "--format", "{{.Names}}"}, "one\n"},
		{[]string{"ps", "-a", "--filter", "name=one", "--filter", "name=two", "--format", "{{.Names}}"}, "two\none\n"},
		{[]string{"ps", "-a", "--filter", "exited=1", "--format", "{{.Names}} {{.State}}"}, "one exited\n"},
		{[]string{"ps", "-a", "--filter", "ancestor=docker.io/library/busybox:test", "--format", "{{.Names}}"}, "three\ntwo\none\n"},
		{[]string{"ps", "-n", "2", "--format", "{{.Names}}"}, "three\ntwo\n"},
		{[]string{"ps", "-l", "--format", "{{.Names}} {{.Labels}} {{.Networks}}"}, "three team=a bridge\n"},
		{[]string{"ps", "-a", "--filter", "name=two", "--format", "{{.Mounts}}"}, "/"},
		{[]string{"ps", "-a", "--filter", "name=two", "-s", "--format", "{{.Size}}"}, "B (virtual "},
	}
	for _, c := range cases {
		got := mustStrata(t, root, c.args...)
		if c.want == "" && got != "" || !strings.Contains(got, c.want) {
			t.Errorf("strata %s: %q, want %q", strings.Join(c.args, " "), got, c.want)
		}
	}
	if _, err := strata(t, root, nil, "ps", "--filter", "colour=red"); err == nil {
		t.Errorf("an unknown filter was accepted")
	}
	waitLog(t, root, "three", "early\nlate\n")
	if got := mustStrata(t, root, "logs", "--since", "1s", "three"); got != "late\n" && got != "" {
		t.Errorf("logs --since 1s: %q", got)
	}
	if got := mustStrata(t, root, "logs", "--until", "1s", "three"); got != "early\nlate\n" && got != "early\n" {
		t.Errorf("logs --until 1s: %q", got)
	}
	if got := mustStrata(t, root, "logs", "--since", "2000-01-01", "--until", "2000-01-02", "three"); got != "" {
		t.Errorf("logs of a day long ago: %q", got)
	}
	if got := mustStrata(t, root, "logs", "--since", "2000-01-01T00:00:00Z", "three"); got != "early\nlate\n" {
		t.Errorf("logs since 2000: %q", got)
	}
}
