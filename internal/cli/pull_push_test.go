package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/strata-dev/strata/internal/hub"
	"github.com/strata-dev/strata/internal/testutil"
)

// importBusybox makes a busybox image named ref in e's store and returns its ID.
func (e *netEnv) importBusybox(t *testing.T, ref string) string {
	t.Helper()
	dir := t.TempDir()
	testutil.BusyboxRootfs(t, dir)
	return strings.TrimSpace(e.must(t, "", "import", "--change", `CMD ["/bin/sh"]`, dir, ref))
}

var pushedDigest = regexp.MustCompile(`(?m)^(\S+): digest: (sha256:[0-9a-f]{64}) size: \d+$`)

// pushOut checks push's output and returns the digest it reports.
func pushOut(t *testing.T, out string) string {
	t.Helper()
	m := pushedDigest.FindStringSubmatch(out)
	if m == nil || !strings.HasPrefix(out, "The push refers to repository [") {
		t.Fatalf("push said:\n%s", out)
	}
	return m[2]
}

// strata pushes, with login, to the reference registry; docker, podman and
// skopeo pull it, and docker and podman run it.
func TestPeersPull(t *testing.T) { // short: podman wants a runroot under 50 characters
	reg := testutil.StartDistribution(t, "alice:secret")
	d := testutil.StartDocker(t)
	e := newNetEnv(t)
	e.vars["DOCKER_CONFIG"] = d.Config // docker uses strata's login
	ref := reg.Addr + "/alice/busybox:1"
	e.importBusybox(t, ref)

	_, errs, code := e.run("", "push", ref)
	if code != 1 || !strings.Contains(errs, "strata login "+reg.Addr) {
		t.Errorf("push without login: exit %d, %q; want a hint to log in", code, errs)
	}
	e.must(t, "secret", "login", "-u", "alice", "--password-stdin", reg.Addr)
	out := e.must(t, "", "push", ref)
	dgst := pushOut(t, out)
	if !strings.Contains(out, ": Pushed\n") {
		t.Errorf("first push did not push a layer:\n%s", out)
	}

	d.Run(t, "pull", ref)
	if got := d.Run(t, "run", "--rm", "--network", "none", ref, "echo", "hello from strata"); got != "hello from strata\n" {
		t.Errorf("docker run printed %q", got)
	}
	if got := strings.TrimSpace(d.Run(t, "image", "inspect", "--format", "{{index .RepoDigests 0}}", ref)); got != reg.Addr+"/alice/busybox@"+dgst {
		t.Errorf("docker pulled %s, strata pushed %s", got, dgst)
	}

	p := testutil.NewPodman(t)
	p.Run(t, "pull", "--tls-verify=false", "--creds", "alice:secret", ref)
	if got := p.Run(t, "run", "--rm", "--network", "none", ref, "echo", "podman too"); got != "podman too\n" {
		t.Errorf("podman run printed %q", got)
	}

	skopeo := testutil.Tool(t, "skopeo")
	raw := testutil.Run(t, nil, skopeo, "inspect", "--tls-verify=false", "--creds", "alice:secret", "docker://"+ref)
	var info struct{ Digest string }
	if err := json.Unmarshal([]byte(raw), &info); err != nil || info.Digest != dgst {
		t.Errorf("skopeo sees digest %q (%v), strata pushed %s", info.Digest, err, dgst)
	}
	testutil.Run(t, nil, skopeo, "copy", "--src-tls-verify=false", "--src-creds", "alice:secret",
		"docker://"+ref, "oci:"+filepath.Join(t.TempDir(), "layout")+":1")
}

// docker and podman push (Docker schema2 and OCI); strata pulls, and its
// inspect and history show what docker's do.
func TestPullFromPeers(t *testing.T) {
	reg := testutil.StartDistribution(t, "")
	d := testutil.StartDocker(t)
	dir := t.TempDir()
	testutil.BusyboxRootfs(t, filepath.Join(dir, "rootfs"))
	tarball := filepath.Join(dir, "rootfs.tar")
	testutil.Run(t, nil, "tar", "-C", filepath.Join(dir, "rootfs"), "-cf", tarball, ".")
	d.Run(t, "import", tarball, "strata-test/base:1")
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM strata-test/base:1\nRUN echo hello >/hello && mkdir -p /data/sub\n"+
		"ENV GREETING=hi\nWORKDIR /data\nCMD [\"/bin/cat\", \"/hello\"]\n"), 0o644)
	ref := reg.Addr + "/peers/docker:1"
	d.Run(t, "build", "--network", "none", "-t", ref, dir)
	d.Run(t, "push", ref)

	e := newNetEnv(t)
	out := e.must(t, "", "pull", ref)
	if !strings.Contains(out, "Pull complete") || !strings.Contains(out, "Status: Downloaded newer image for "+ref) {
		t.Errorf("pull said:\n%s", out)
	}
	want, got := inspectFields(t, d.Run(t, "image", "inspect", ref)), inspectFields(t, e.must(t, "", "image", "inspect", ref))
	for k, v := range want {
		if got[k] != v {
			t.Errorf("inspect %s: strata %s, docker %s", k, got[k], v)
		}
	}
	hist := "{{.CreatedBy}}|{{.Size}}|{{.Comment}}"
	if want, got := d.Run(t, "history", "--no-trunc", "--format", hist, ref), e.must(t, "", "history", "--no-trunc", "--format", hist, ref); got != want {
		t.Errorf("history differs:\nstrata:\n%sdocker:\n%s", got, want)
	}
	if out := e.must(t, "", "pull", ref); !strings.Contains(out, "Image is up to date") {
		t.Errorf("second pull said:\n%s", out)
	}

	p := testutil.NewPodman(t)
	oci := reg.Addr + "/peers/podman-oci:1"
	p.Run(t, "pull", "--tls-verify=false", ref)
	p.Run(t, "push", "--tls-verify=false", "--format", "oci", ref, oci)
	out = e.must(t, "", "pull", oci)
	if !strings.Contains(out, "Already exists") || strings.Contains(out, "Pull complete") {
		t.Errorf("pull of the same layers re-encoded by podman should download none:\n%s", out)
	}
	if got := inspectFields(t, e.must(t, "", "image", "inspect", oci))["RootFS"]; got != want["RootFS"] {
		t.Errorf("the OCI image's layers %s, docker's %s", got, want["RootFS"])
	}
}

// inspectFields picks, from `image inspect` output, the fields that must be
// the same in docker and strata for the same pulled image, each as JSON.
func inspectFields(t *testing.T, out string) map[string]string {
	t.Helper()
	var imgs []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &imgs); err != nil || len(imgs) != 1 {
		t.Fatalf("inspect output: %v\n%s", err, out)
	}
	fields := map[string]string{}
	for _, k := range []string{"Id", "RepoDigests", "Comment", "Created", "DockerVersion", "Author", "Architecture", "Os", "Size", "RootFS"} {
		fields[k] = string(imgs[0][k])
	}
	for _, k := range []string{"Config", "ContainerConfig"} {
		var c map[string]json.RawMessage
		json.Unmarshal(imgs[0][k], &c)
		for _, sub := range []string{"Cmd", "Env", "WorkingDir", "Entrypoint", "User"} {
			fields[k+"."+sub] = string(c[sub])
		}
	}
	return fields
}

// strata pushes to its own hub, mounts across repositories there, and pulls back.
func TestPushToHub(t *testing.T) {
	h := testutil.StartHub(t, hub.Config{})
	e := newNetEnv(t)
	ref := h.Addr + "/team/busybox:1"
	e.importBusybox(t, ref)
	first := pushOut(t, e.must(t, "", "push", ref))
	e.must(t, "", "tag", ref, h.Addr+"/team/other:1")
	out := e.must(t, "", "push", h.Addr+"/team/other:1")
	if !strings.Contains(out, "Mounted from team/busybox") || pushOut(t, out) != first {
		t.Errorf("push to a second repository of the hub:\n%s", out)
	}
	e.must(t, "", "tag", ref, h.Addr+"/team/busybox:2")
	if out := e.must(t, "", "push", "-a", h.Addr+"/team/busybox"); strings.Contains(out, "Pushed") || strings.Count(out, "Layer already exists") != 2 {
		t.Errorf("push -a of two tags already there:\n%s", out)
	}
	other := newNetEnv(t)
	out = other.must(t, "", "pull", "-a", h.Addr+"/team/busybox")
	if strings.Count(out, "Digest: "+first) != 2 || strings.Count(out, "Pull complete") != 1 {
		t.Errorf("pull -a:\n%s", out)
	}
	if out := other.must(t, "", "pull", "-q", ref); out != ref+"\n" {
		t.Errorf("pull -q said %q", out)
	}
}
