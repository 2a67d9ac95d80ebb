package cli

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-dev/strata/internal/testutil"
)

// TestBuildHostileContext: the ways out of a build context that issue 11
// found, and their kin, each refused end to end: a pattern matching a
// symlink to a host file, a symlink to a .dockerignore'd file, a
// Dockerfile or .dockerignore that is a link out, and COPY --from a stage
// whose absolute symlink names a host file (it resolves inside the stage).
func TestBuildHostileContext(t *testing.T) {
	root := busyboxRoot(t, "")
	secret := filepath.Join(t.TempDir(), "host-secret.txt")
	os.WriteFile(secret, []byte("HOST SECRET\n"), 0o600)
	for _, tc := range []struct {
		name       string
		dockerfile string
		links      map[string]string // in the context: name -> target
		files      map[string]string
		want       string
	}{
		{name: "pattern to a host file", dockerfile: "FROM busybox:test\nCOPY *.txt /o/\n",
			links: map[string]string{"x.txt": secret}, want: "outside the build context"},
		{name: "pattern up and out", dockerfile: "FROM busybox:test\nCOPY x* /o/\n",
			links: map[string]string{"x.txt": "../../" + filepath.Base(filepath.Dir(secret)) + "/host-secret.txt"}, want: "outside the build context"},
		{name: "pattern through a linked dir", dockerfile: "FROM busybox:test\nCOPY d/*.txt /o/\n",
			links: map[string]string{"d": filepath.Dir(secret)}, want: "outside the build context"},
		{name: "link to an ignored file", dockerfile: "FROM busybox:test\nCOPY link.txt /o/\n",
			links: map[string]string{"link.txt": "secret.txt"}, files: map[string]string{"secret.txt": "IGNORED", ".dockerignore": "secret.txt\n"},
			want: "which .dockerignore leaves out"},
		{name: "pattern to an ignored file", dockerfile: "FROM busybox:test\nCOPY l*.txt /o/\n",
			links: map[string]string{"link.txt": "secret.txt"}, files: map[string]string{"secret.txt": "IGNORED", ".dockerignore": "secret.txt\n"},
			want: "which .dockerignore leaves out"},
		{name: "ADD of a linked archive", dockerfile: "FROM busybox:test\nADD *.tar /o/\n",
			links: map[string]string{"a.tar": secret}, want: "outside the build context"},
		{name: "dockerignore out", dockerfile: "FROM busybox:test\n",
			links: map[string]string{".dockerignore": secret}, want: ".dockerignore"},
		{name: "Dockerfile out", links: map[string]string{"Dockerfile": secret}, want: "a symlink out of the build context is refused"},
		{name: "stage link to a host path", dockerfile: "FROM busybox:test AS evil\nRUN ln -s " + secret + " /x.txt\n" +
			"FROM busybox:test\nCOPY --from=evil /*.txt /o/\n", want: "not found"},
		{name: "stage link named plainly", dockerfile: "FROM busybox:test AS evil\nRUN ln -s " + secret + " /x.txt\n" +
			"FROM busybox:test\nCOPY --from=evil /x.txt /o/\n", want: "not found"},
	} {
		files := map[string]string{}
		for k, v := range tc.files {
			files[k] = v
		}
		if _, ok := tc.links["Dockerfile"]; !ok {
			files["Dockerfile"] = tc.dockerfile
		}
		dir := writeContext(t, files)
		os.MkdirAll(dir, 0o755)
		for name, target := range tc.links {
			if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
		}
		_, progress, code := buildOut(t, root, "-t", "hostile:1", dir)
		t.Logf("%s: %s", tc.name, lastLine(progress))
		if code == 0 || !strings.Contains(progress, tc.want) {
			t.Errorf("%s: exit %d, want an error with %q:\n%s", tc.name, code, tc.want, progress)
		}
		if strings.Contains(progress, "HOST SECRET") || strings.Contains(progress, "IGNORED") {
			t.Errorf("%s: the build printed what it must not read:\n%s", tc.name, progress)
		}
	}
	if _, err := strata(t, root, nil, "image", "inspect", "hostile:1"); err == nil {
		t.Error("a hostile build made an image")
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestBuildAddURL: ADD <URL> from a server on loopback, checked with
// --checksum; a wrong checksum, or one on a local file, fails the build.
func TestBuildAddURL(t *testing.T) {
	root := busyboxRoot(t, "")
	l, err := net.Listen("tcp", testutil.FreeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "downloaded\n")
	})}
	go srv.Serve(l)
	defer srv.Close()
	url := "http://" + l.Addr().String() + "/file.txt"
	sum := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte("downloaded\n")))
	ctx := writeContext(t, map[string]string{"local.txt": "l", "Dockerfile": "FROM busybox:test\nADD --checksum=" + sum + " " + url + " /d/\n"})
	mustBuild(t, root, "-t", "added:1", ctx)
	if got := mustStrata(t, root, "run", "--rm", "added:1", "cat", "/d/file.txt"); got != "downloaded\n" {
		t.Errorf("the added file holds %q", got)
	}
	for _, tc := range []struct{ dockerfile, want string }{
		{"FROM busybox:test\nADD --checksum=sha256:" + strings.Repeat("0", 64) + " " + url + " /d/\n", "does not match --checksum"},
		{"FROM busybox:test\nADD --checksum=" + sum + " local.txt /d/\n", "a checksum goes with an http(s) URL or a git repository only"},
	} {
		os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(tc.dockerfile), 0o644)
		if _, progress, code := buildOut(t, root, ctx); code == 0 || !strings.Contains(progress, tc.want) {
			t.Errorf("%q: exit %d, want %q:\n%s", tc.dockerfile, code, tc.want, progress)
		}
	}
}
