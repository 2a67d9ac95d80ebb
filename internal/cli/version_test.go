package cli

import (
	"strings"
	"testing"
)

// TestScriptsKeepWorking: version, info and --version answer; an unknown
// subcommand exits non-zero, with a suggestion only when one is close, at
// the top level and in a group; completion offers container and image
// names and flag values.
func TestScriptsKeepWorking(t *testing.T) {
	root := busyboxRoot(t, "")
	mustStrata(t, root, "create", "--name", "completeme", "busybox:test", "true")
	for _, args := range [][]string{{"--version"}, {"version"}, {"info"}} {
		if out := mustStrata(t, root, args...); !strings.Contains(out, "strata") {
			t.Errorf("strata %s: %q", strings.Join(args, " "), out)
		}
	}
	cases := []struct {
		args    []string
		suggest string
	}{
		{[]string{"imgaes"}, "images"},
		{[]string{"container", "lss"}, "ls"},
		{[]string{"network", "craete"}, "create"},
		{[]string{"frobnicate"}, ""},
		{[]string{"container", "frobnicate"}, ""},
	}
	for _, c := range cases {
		_, err := strata(t, root, nil, c.args...)
		if exitStatus(err) == 0 {
			t.Errorf("strata %s exited 0", strings.Join(c.args, " "))
			continue
		}
		msg := err.Error()
		if got := strings.Contains(msg, "Did you mean this?"); got != (c.suggest != "") || !strings.Contains(msg, c.suggest) {
			t.Errorf("strata %s: %q, want suggestion %q", strings.Join(c.args, " "), msg, c.suggest)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"__complete", "start", ""}, "completeme"},
		{[]string{"__complete", "container", "rm", ""}, "completeme"},
		{[]string{"__complete", "run", ""}, "busybox:test"},
		{[]string{"__complete", "run", "--network", ""}, "bridge\nnone\nhost"},
		{[]string{"__complete", "run", "--restart", ""}, "unless-stopped"},
	} {
		if out := mustStrata(t, root, c.args...); !strings.Contains(out, c.want) {
			t.Errorf("strata %s: %q, want %q", strings.Join(c.args, " "), out, c.want)
		}
	}
}
