package cli

import (
	"archive/tar"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/strata-dev/strata/internal/testutil"
)

const mountDockerfile = `FROM busybox:test AS tools
RUN echo tool > /tool.txt && mkdir /seed && echo seed > /seed/s.txt
FROM busybox:test
RUN --mount=type=cache,target=/cache echo x >> /cache/count && wc -l < /cache/count > /count
RUN --mount=type=cache,id=seeded,from=tools,source=/seed,target=/s cat /s/s.txt > /seeded
RUN --mount=type=tmpfs,target=/scratch echo t > /scratch/t && grep -q " /scratch tmpfs " /proc/mounts && echo tmpfs > /tmpfs
RUN --mount=type=bind,source=src,target=/src cat /src/a.txt > /bound && ! test -e /src/ignored.txt
RUN --mount=type=bind,from=tools,source=/tool.txt,target=/t.txt cat /t.txt > /fromstage
RUN --mount=type=secret,id=token test "$(cat /run/secrets/token)" = "s3""cret-value" && echo ok > /secret-ok
RUN --mount=type=secret,id=token,env=TOKEN test "$TOKEN" = "s3""cret-value" && echo ok > /env-ok
`

// TestBuildRunMounts: RUN --mount of each type does what BuildKit
// documents; a cache outlives the build until builder prune; a secret
// reaches the step and never a layer, the config, the history or the
// cache key (a build with another value takes its steps from the cache).
func TestBuildRunMounts(t *testing.T) {
	root := busyboxRoot(t, "")
	ctx := writeContext(t, map[string]string{"Dockerfile": mountDockerfile, "src/a.txt": "bound\n", "src/ignored.txt": "no",
		".dockerignore": "src/ignored.txt\n"})
	secret := filepath.Join(t.TempDir(), "token")
	os.WriteFile(secret, []byte("s3cret-value"), 0o600)
	// The Dockerfile spells the value "s3""cret-value", so that only the
	// secret itself would put "s3cret" into the image.
	args := []string{"--secret", "id=token,src=" + secret}
	mustBuild(t, root, append(args, "-t", "mounts:1", ctx)...)
	got := mustStrata(t, root, "run", "--rm", "mounts:1", "sh", "-c", "cat /count /seeded /tmpfs /bound /fromstage /secret-ok /env-ok; ls /scratch /cache /s /src /run/secrets 2>&1 | wc -l")
	if want := "1\nseed\ntmpfs\nbound\ntool\nok\nok\n5\n"; got != want {
		t.Errorf("mounts:1 holds\n%s\nwant\n%s", got, want)
	}
	assertNotInImage(t, root, "mounts:1", "s3cret")

	// Another value of the secret: the cache key does not see it.
	os.WriteFile(secret, []byte("other"), 0o600)
	for _, s := range stepStates(mustBuild(t, root, append(args, "-t", "mounts:2", ctx)...))[1:] {
		if !strings.HasPrefix(s, "CACHED ") && !strings.Contains(s, "FROM") {
			t.Errorf("with another secret value: %q, want it from the cache", s)
		}
	}
	// The cache mount outlives the build: a second run counts 2.
	os.WriteFile(secret, []byte("s3cret-value"), 0o600)
	mustBuild(t, root, append(args, "--no-cache", "-t", "mounts:3", ctx)...)
	if got := mustStrata(t, root, "run", "--rm", "mounts:3", "cat", "/count"); got != "2\n" {
		t.Errorf("the cache mount's second use counts %q, want 2", got)
	}
	mustStrata(t, root, "builder", "prune", "-f")
	if entries, _ := os.ReadDir(filepath.Join(root, "build-cache-mounts")); len(entries) != 0 {
		t.Errorf("builder prune left %d cache mount entries", len(entries))
	}

	for _, tc := range []struct{ dockerfile, want string }{
		{"FROM busybox:test\nRUN --mount=type=secret,id=missing,required=true true\n", "secret missing is required"},
		{"FROM busybox:test\nRUN --mount=type=cache true\n", "a target is needed"},
		{"FROM busybox:test\nRUN --mount=type=bind,source=../x,target=/x true\n", "outside the build context"},
		{"FROM busybox:test\nRUN --network=host true\n", "grant it with --allow network.host"},
		{"FROM busybox:test\nRUN --security=insecure true\n", "RUN --security=insecure is not supported"},
		{"FROM busybox:test\nRUN --device=/dev/fuse true\n", "RUN --device is not supported"},
	} {
		os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(tc.dockerfile), 0o644)
		if _, progress, code := buildOut(t, root, ctx); code == 0 || !strings.Contains(progress, tc.want) {
			t.Errorf("%q: exit %d, want %q:\n%s", tc.dockerfile, code, tc.want, progress)
		}
	}
}

// assertNotInImage looks for text in every layer of the image (the
// files, uncompressed), its config and its history.
func assertNotInImage(t *testing.T, root, ref, text string) {
	t.Helper()
	archive := filepath.Join(t.TempDir(), "image.tar")
	mustStrata(t, root, "image", "save", "-o", archive, ref)
	testutil.EachTarEntry(t, archive, func(hdr *tar.Header, b []byte) {
		if zr, err := gzip.NewReader(strings.NewReader(string(b))); err == nil {
			if u, err := io.ReadAll(zr); err == nil {
				b = u
			}
		}
		if strings.Contains(string(b), text) {
			t.Errorf("%s: %q is in %s of the saved image", ref, text, hdr.Name)
		}
	})
	for _, args := range [][]string{{"history", "--no-trunc", ref}, {"image", "inspect", ref}} {
		if out := mustStrata(t, root, args...); strings.Contains(out, text) {
			t.Errorf("%q shows up in strata %s", text, strings.Join(args, " "))
		}
	}
}

// TestBuildNetwork: a RUN step on the default network (and on none)
// cannot reach a service bound to the host's 127.0.0.1, nor see the host's
// sockets (so nor sniff its loopback); with --network host it can, which
// shows the check would see a leak.
func TestBuildNetwork(t *testing.T) {
	root := busyboxRoot(t, "")
	l, err := net.Listen("tcp", testutil.FreeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "host service\n")
			c.Close()
		}
	}()
	port := l.Addr().(*net.TCPAddr).Port
	hexPort := fmt.Sprintf("%04X", port)
	probe := "FROM busybox:test\nARG NONCE\nRUN (nc -w 2 127.0.0.1 " + strconv.Itoa(port) + " < /dev/null > /reply 2>&1 || true); " +
		"(grep -qi ':" + hexPort + " ' /proc/net/tcp && echo sees-host-sockets || echo isolated) > /sockets; " +
		"(grep -q eth0 /proc/net/dev && echo eth0 || echo no-eth0) >> /sockets; grep db.example /etc/hosts >> /sockets || true\n"
	ctx := writeContext(t, map[string]string{"Dockerfile": probe})
	for i, tc := range []struct {
		args          []string
		reply, socket string
	}{
		{[]string{"--add-host", "db.example:10.1.2.3"}, "", "isolated\neth0\n10.1.2.3\tdb.example"},
		{[]string{"--network", "default"}, "", "isolated\neth0"},
		{[]string{"--network", "none"}, "", "isolated\nno-eth0"},
		{[]string{"--network", "host"}, "host service", "sees-host-sockets"},
	} {
		ref := fmt.Sprintf("net:%d", i)
		mustBuild(t, root, append(tc.args, "--build-arg", "NONCE="+ref, "-t", ref, ctx)...)
		reply := mustStrata(t, root, "run", "--rm", ref, "cat", "/reply", "/sockets")
		if !strings.Contains(reply, tc.socket) || (tc.reply == "") == strings.Contains(reply, "host service") {
			t.Errorf("build %v: the step saw %q; want %q and %q", tc.args, reply, tc.reply, tc.socket)
		}
	}
}

// TestBuildSSH: RUN --mount=type=ssh gets the agent's socket of --ssh at
// /run/buildkit/ssh_agent.0 with SSH_AUTH_SOCK set (a socket there, as the
// step checks), a step whose agent was not given runs without one, and
// neither the socket, its mount point nor its host path reaches the image
// or its history.
func TestBuildSSH(t *testing.T) {
	root := busyboxRoot(t, "")
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close() // a socket is all the step checks for; no agent answers
	ctx := writeContext(t, map[string]string{"Dockerfile": "FROM busybox:test\n" +
		"RUN --mount=type=ssh test -S \"$SSH_AUTH_SOCK\" && echo \"$SSH_AUTH_SOCK\" > /ssh-reply\n" +
		"RUN --mount=type=ssh,id=other,required=false echo \"[$SSH_AUTH_SOCK]\" > /no-agent\n"})
	mustBuild(t, root, "--ssh", "default="+sock, "-t", "ssh:1", ctx)
	got := mustStrata(t, root, "run", "--rm", "ssh:1", "sh", "-c", "cat /ssh-reply /no-agent; ls /run/buildkit 2>&1 | wc -l")
	if got != "/run/buildkit/ssh_agent.0\n[]\n1\n" {
		t.Errorf("ssh:1 holds %q", got)
	}
	assertNotInImage(t, root, "ssh:1", sock)
	// A key file rather than a socket: strata serves it from an agent of
	// its own for the build.
	key := filepath.Join(t.TempDir(), "id_ed25519")
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, _ := ssh.MarshalPrivateKey(priv, "test")
	os.WriteFile(key, pem.EncodeToMemory(block), 0o600)
	mustBuild(t, root, "--no-cache", "--ssh", "default="+key, "-t", "ssh:2", ctx)
	if got := mustStrata(t, root, "run", "--rm", "ssh:2", "cat", "/ssh-reply"); got != "/run/buildkit/ssh_agent.0\n" {
		t.Errorf("ssh:2 holds %q", got)
	}
	assertNotInImage(t, root, "ssh:2", "PRIVATE KEY")
	if _, progress, code := buildOut(t, root, writeContext(t, map[string]string{"Dockerfile": "FROM busybox:test\nRUN --mount=type=ssh,required=true true\n"})); code == 0 || !strings.Contains(progress, "ssh agent default is required") {
		t.Errorf("a required agent that was not given: exit %d:\n%s", code, progress)
	}
}
