package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-dev/strata/internal/testutil"
)

// netEnv is the environment of the network commands' tests: a private
// store, strata config and Docker config directory.
type netEnv struct {
	vars map[string]string
}

func newNetEnv(t *testing.T) *netEnv {
	dir := t.TempDir()
	return &netEnv{vars: map[string]string{
		"STRATA_ROOT":   filepath.Join(dir, "root"),
		"STRATA_CONFIG": filepath.Join(dir, "config"),
		"DOCKER_CONFIG": filepath.Join(dir, "docker"),
		"HOME":          dir,
		"PATH":          os.Getenv("PATH"),
	}}
}

// run runs strata in process and returns stdout, stderr and the exit code.
func (e *netEnv) run(stdin string, args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	code := Run(context.Background(), args, Streams{In: strings.NewReader(stdin), Out: &out, Err: &errb},
		func(k string) string { return e.vars[k] })
	return out.String(), errb.String(), code
}

// must runs strata and fails the test unless it exits 0.
func (e *netEnv) must(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, errs, code := e.run(stdin, args...)
	if code != 0 {
		t.Fatalf("strata %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func (e *netEnv) dockerConfig(t *testing.T) map[string]json.RawMessage {
	t.Helper()
	var cfg map[string]json.RawMessage
	b, err := os.ReadFile(filepath.Join(e.vars["DOCKER_CONFIG"], "config.json"))
	if err == nil {
		err = json.Unmarshal(b, &cfg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestLoginLogout(t *testing.T) {
	reg := testutil.StartDistribution(t, "alice:secret")
	e := newNetEnv(t)
	out, _, code := e.run("wrong\n", "login", "-u", "alice", "--password-stdin", reg.Addr)
	if code != 1 {
		t.Fatalf("login with a wrong password: exit %d, %s", code, out)
	}
	if _, err := os.Stat(filepath.Join(e.vars["DOCKER_CONFIG"], "config.json")); err == nil {
		t.Fatal("a refused login was saved")
	}
	if out := e.must(t, "secret\n", "login", "-u", "alice", "--password-stdin", "http://"+reg.Addr+"/v2/"); out != "Login Succeeded\n" {
		t.Errorf("login said %q", out)
	}
	var auths map[string]map[string]string
	json.Unmarshal(e.dockerConfig(t)["auths"], &auths)
	if auths[reg.Addr]["auth"] != "YWxpY2U6c2VjcmV0" {
		t.Errorf("auths = %v, want base64(alice:secret) under %s", auths, reg.Addr)
	}
	if out := e.must(t, "", "login", reg.Addr); !strings.Contains(out, "existing credentials") {
		t.Errorf("login with a saved login said %q", out)
	}
	_, errs, code := e.run("", "login", "-u", "alice", "-p", "secret", reg.Addr)
	if code != 0 || !strings.Contains(errs, "--password-stdin") {
		t.Errorf("login -p: exit %d, stderr %q: want success and a warning", code, errs)
	}
	if out := e.must(t, "", "logout", reg.Addr); out != "Removing login credentials for "+reg.Addr+"\n" {
		t.Errorf("logout said %q", out)
	}
	if out := e.must(t, "", "logout", reg.Addr); out != "Not logged in to "+reg.Addr+"\n" {
		t.Errorf("second logout said %q", out)
	}
	for _, args := range [][]string{
		{"login", "-u", "alice", reg.Addr},                            // no terminal to ask on
		{"login", "--password-stdin", reg.Addr},                       // no username
		{"login", "-u", "a", "-p", "b", "--password-stdin", reg.Addr}, // both
	} {
		if _, errs, code := e.run("", args...); code != 1 || !strings.Contains(errs, "Error:") {
			t.Errorf("strata %v: exit %d, %q", args, code, errs)
		}
	}
}

// docker and strata share one config.json, both ways, with and without a
// credential helper.
func TestLoginSharedWithDocker(t *testing.T) {
	reg := testutil.StartDistribution(t, "alice:secret")
	d := testutil.StartDocker(t)
	e := newNetEnv(t)
	e.vars["DOCKER_CONFIG"] = d.Config
	os.WriteFile(filepath.Join(d.Config, "config.json"), []byte(`{"psFormat":"table {{.ID}}"}`), 0o600)

	docker := func(stdin string, args ...string) string {
		cmd := d.Command(args...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("docker %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	docker("secret\n", "login", "-u", "alice", "--password-stdin", reg.Addr)
	if out := e.must(t, "", "login", reg.Addr); !strings.Contains(out, "existing credentials") {
		t.Errorf("strata did not use docker's login: %q", out)
	}
	e.must(t, "", "logout", reg.Addr)
	e.must(t, "secret", "login", "-u", "alice", "--password-stdin", reg.Addr)
	if out := docker("", "logout", reg.Addr); !strings.Contains(out, "Removing login credentials for "+reg.Addr) {
		t.Errorf("docker did not find strata's login: %q", out)
	}
	if string(e.dockerConfig(t)["psFormat"]) != `"table {{.ID}}"` {
		t.Error("docker's other settings were lost")
	}

	// A credential helper: strata stores through it, docker erases through it.
	store := testutil.InstallCredentialHelper(t, "strtest")
	e.vars["PATH"] = os.Getenv("PATH")
	os.WriteFile(filepath.Join(d.Config, "config.json"), []byte(`{"credsStore":"strtest"}`), 0o600)
	e.must(t, "secret", "login", "-u", "alice", "--password-stdin", reg.Addr)
	if entries, _ := os.ReadDir(store); len(entries) != 1 {
		t.Fatalf("the helper holds %d logins, want 1", len(entries))
	}
	if out := docker("", "logout", reg.Addr); !strings.Contains(out, "Removing login credentials") {
		t.Errorf("docker logout through the helper: %q", out)
	}
	if entries, _ := os.ReadDir(store); len(entries) != 0 {
		t.Fatal("docker did not erase strata's login from the helper")
	}
}
