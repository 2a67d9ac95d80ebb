package hub_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-dev/strata/internal/cli"
	"github.com/strata-dev/strata/internal/hub"
	"github.com/strata-dev/strata/internal/hub/auth"
	"github.com/strata-dev/strata/internal/hub/meta"
	"github.com/strata-dev/strata/internal/testutil"
)

// strata is the strata CLI run in process with its own store and Docker
// config directory.
type strata struct{ env map[string]string }

func newStrata(t *testing.T) *strata {
	dir := t.TempDir()
	return &strata{env: map[string]string{"STRATA_ROOT": filepath.Join(dir, "root"), "STRATA_CONFIG": filepath.Join(dir, "config"),
		"DOCKER_CONFIG": filepath.Join(dir, "docker"), "HOME": dir, "PATH": os.Getenv("PATH")}}
}

// run returns what strata printed (stdout and stderr) and whether it exited 0.
func (s *strata) run(stdin string, args ...string) (string, bool) {
	var out bytes.Buffer
	code := cli.Run(context.Background(), args, cli.Streams{In: strings.NewReader(stdin), Out: &out, Err: &out},
		func(k string) string { return s.env[k] })
	return out.String(), code == 0
}

func (s *strata) must(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, ok := s.run(stdin, args...)
	if !ok {
		t.Fatalf("strata %s failed:\n%s", strings.Join(args, " "), out)
	}
	return out
}

func (s *strata) mustFail(t *testing.T, want string, args ...string) {
	t.Helper()
	out, ok := s.run("", args...)
	if ok || !strings.Contains(out, want) {
		t.Fatalf("strata %s: ok=%v, want a failure saying %q:\n%s", strings.Join(args, " "), ok, want, out)
	}
}

// importBusybox makes a small runnable image in the store as ref.
func (s *strata) importBusybox(t *testing.T, ref string) {
	dir := t.TempDir()
	testutil.BusyboxRootfs(t, dir)
	s.must(t, "", "import", "--change", `CMD ["/bin/sh"]`, dir, ref)
}

// strata against a hub with accounts: login with a password and with a
// token, push to one's own namespace, refused push to another's, anonymous
// pull of a public repository, refused pull of a private one, logout.
func TestStrataWithAccounts(t *testing.T) {
	h, _, _ := accountsHub(t, hub.Config{})
	s := newStrata(t)
	s.mustFail(t, "failed", "login", "-u", "alice", "-p", "wrong-password", h.Addr)
	s.must(t, "alice-pass-1", "login", "-u", "alice", "--password-stdin", h.Addr)
	s.importBusybox(t, h.Addr+"/alice/tools:1")
	s.must(t, "", "push", h.Addr+"/alice/tools:1")
	s.must(t, "", "tag", h.Addr+"/alice/tools:1", h.Addr+"/bob/tools:1")
	s.mustFail(t, "HTTP 401", "push", h.Addr+"/bob/tools:1")
	s.must(t, "", "logout", h.Addr)
	s.mustFail(t, "HTTP 401", "push", h.Addr+"/alice/tools:1")

	anon := newStrata(t)
	anon.must(t, "", "pull", h.Addr+"/alice/tools:1")
	anon.mustFail(t, "HTTP 401", "pull", h.Addr+"/alice/priv:v1")
	setVisibility(t, h, "alice/tools", meta.Private)
	anon.mustFail(t, "HTTP 401", "pull", h.Addr+"/alice/tools:1")

	tok, err := h.Deps.Auth.CreateToken(context.Background(), "alice", "laptop", auth.ScopeReadWrite, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	s.mustFail(t, "failed", "login", "-u", "bob", "-p", tok, h.Addr)
	s.must(t, tok, "login", "-u", "alice", "--password-stdin", h.Addr)
	s.must(t, "", "tag", h.Addr+"/alice/tools:1", h.Addr+"/alice/tools:2")
	s.must(t, "", "push", h.Addr+"/alice/tools:2")
	s.must(t, "", "pull", h.Addr+"/alice/priv:v1")
	s.must(t, "", "logout", h.Addr)
}

// The same with the real docker CLI: its login keeps the refresh token the
// hub gives (an identity token, not the password) and pushes with it.
func TestDockerWithAccounts(t *testing.T) {
	docker := testutil.StartDocker(t)
	h, _, _ := accountsHub(t, hub.Config{})
	if err := pushAs(t, h.Addr+"/alice/bb:1", "alice", "alice-pass-1", busybox(t)); err != nil {
		t.Fatal(err)
	}
	login := func(user, secret string) string {
		cmd := docker.Command("login", "-u", user, "--password-stdin", h.Addr)
		cmd.Stdin = strings.NewReader(secret)
		out, _ := cmd.CombinedOutput()
		return string(out)
	}
	fails := func(want string, args ...string) {
		t.Helper()
		out, err := docker.Command(args...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), want) {
			t.Fatalf("docker %s: %v, want a failure saying %q:\n%s", strings.Join(args, " "), err, want, out)
		}
	}
	if out := login("alice", "wrong-password"); !strings.Contains(out, "unauthorized") {
		t.Fatalf("docker login with a wrong password:\n%s", out)
	}
	if out := login("alice", "alice-pass-1"); !strings.Contains(out, "Login Succeeded") {
		t.Fatalf("docker login:\n%s", out)
	}
	cfg, _ := os.ReadFile(filepath.Join(docker.Config, "config.json"))
	if !strings.Contains(string(cfg), `"identitytoken"`) || strings.Contains(string(cfg), "alice-pass-1") {
		t.Fatalf("docker kept no refresh token:\n%s", cfg)
	}
	docker.Run(t, "pull", h.Addr+"/alice/bb:1")
	docker.Run(t, "tag", h.Addr+"/alice/bb:1", h.Addr+"/alice/mine:1")
	docker.Run(t, "push", h.Addr+"/alice/mine:1")
	docker.Run(t, "tag", h.Addr+"/alice/bb:1", h.Addr+"/bob/theirs:1")
	fails("denied", "push", h.Addr+"/bob/theirs:1")
	docker.Run(t, "logout", h.Addr)

	docker.Run(t, "rmi", h.Addr+"/alice/bb:1", h.Addr+"/alice/mine:1", h.Addr+"/bob/theirs:1")
	docker.Run(t, "pull", h.Addr+"/alice/mine:1")
	fails("pull access denied", "pull", h.Addr+"/alice/priv:v1")
	fails("pull access denied", "pull", h.Addr+"/alice/nothing:v1")
	fails("denied", "push", h.Addr+"/alice/mine:1")

	tok, err := h.Deps.Auth.CreateToken(context.Background(), "alice", "docker", auth.ScopeReadWrite, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if out := login("alice", tok); !strings.Contains(out, "Login Succeeded") {
		t.Fatalf("docker login with a token:\n%s", out)
	}
	docker.Run(t, "tag", h.Addr+"/alice/mine:1", h.Addr+"/alice/mine:2")
	docker.Run(t, "push", h.Addr+"/alice/mine:2")
	docker.Run(t, "logout", h.Addr)
	if out := docker.Run(t, "run", "--rm", "--network", "none", h.Addr+"/alice/mine:2"); strings.TrimSpace(out) != "hello from the hub" {
		t.Fatalf("docker run printed %q", out)
	}
}

// docker search lists what the caller may pull: anonymous, the public
// repositories; logged in (docker keeps a refresh token and asks for
// registry:catalog:search), the private ones they may read as well.
func TestDockerSearch(t *testing.T) {
	docker := testutil.StartDocker(t)
	h, _, _ := accountsHub(t, hub.Config{})
	ctx := context.Background()
	desc := "a small image for the tests"
	if err := h.Deps.Meta.UpdateRepository(ctx, "alice/pub", meta.RepoChange{Description: &desc}); err != nil {
		t.Fatal(err)
	}
	if err := pushAs(t, h.Addr+"/bob/tools:1", "bob", "bob-pass-12", randomImage(t, 1)); err != nil {
		t.Fatal(err)
	}
	search := func(args ...string) string {
		t.Helper()
		out := docker.Run(t, append([]string{"search", "--format", "{{.Name}}: {{.Description}}"}, args...)...)
		return strings.TrimSpace(out)
	}
	login := func(user, secret string) {
		t.Helper()
		cmd := docker.Command("login", "-u", user, "--password-stdin", h.Addr)
		cmd.Stdin = strings.NewReader(secret)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("docker login %s: %v\n%s", user, err, out)
		}
	}
	for _, tc := range []struct {
		user, password string
		args           []string
		want           string
	}{
		{"", "", []string{h.Addr + "/alice"}, "alice/pub: " + desc},
		{"", "", []string{h.Addr + "/small"}, "alice/pub: " + desc}, // the description matches
		{"", "", []string{h.Addr + "/tools"}, "bob/tools:"},
		{"", "", []string{h.Addr + "/nothing-like-it"}, ""},
		{"alice", "alice-pass-1", []string{h.Addr + "/alice"}, "alice/priv: \nalice/pub: " + desc},
		{"alice", "alice-pass-1", []string{"--limit", "1", h.Addr + "/alice"}, "alice/priv:"},
		{"bob", "bob-pass-12", []string{h.Addr + "/alice"}, "alice/pub: " + desc},
		{"ops", "ops-pass-12", []string{h.Addr + "/"}, "alice/priv: \nalice/pub: " + desc + "\nbob/tools:"},
	} {
		if tc.user != "" {
			login(tc.user, tc.password)
		}
		if got := search(tc.args...); got != tc.want {
			t.Errorf("as %q, docker search %s:\n%s\nwant:\n%s", tc.user, strings.Join(tc.args, " "), got, tc.want)
		}
		if tc.user != "" {
			docker.Run(t, "logout", h.Addr)
		}
	}
}
