package cli

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/strata-dev/strata/internal/testutil"
)

// writeContext makes a build context of files (name -> content; a name
// ending in "/" is a directory).
func writeContext(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ctx")
	for name, body := range files {
		p := filepath.Join(dir, name)
		if strings.HasSuffix(name, "/") {
			os.MkdirAll(p, 0o755)
			continue
		}
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// buildOut runs `strata build --progress plain ARGS` in process and returns
// its standard output and error, and exit status.
func buildOut(t *testing.T, root string, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := func(k string) string {
		if k == "STRATA_ROOT" {
			return root
		}
		return ""
	}
	code := Run(context.Background(), append([]string{"build", "--progress", "plain"}, args...),
		Streams{In: strings.NewReader(""), Out: &out, Err: &errOut}, env)
	return out.String(), errOut.String(), code
}

func mustBuild(t *testing.T, root string, args ...string) string {
	t.Helper()
	_, progress, code := buildOut(t, root, args...)
	if code != 0 {
		t.Fatalf("strata build %s: exit %d:\n%s", strings.Join(args, " "), code, progress)
	}
	return progress
}

var (
	stepLine   = regexp.MustCompile(`(?m)^#\d+ \[[^\]]*\] (.*)$`)
	stepResult = regexp.MustCompile(`(?m)^#\d+ (CACHED|DONE \d+\.\ds)$`)
)

// stepStates pairs each step of a plain progress with CACHED or RAN.
func stepStates(progress string) []string {
	steps := stepLine.FindAllStringSubmatch(progress, -1)
	results := stepResult.FindAllStringSubmatch(progress, -1)
	var out []string
	for i, s := range steps {
		state := "?"
		if i < len(results) {
			state = "RAN"
			if results[i][1] == "CACHED" {
				state = "CACHED"
			}
		}
		out = append(out, state+" "+s[1])
	}
	return out
}

// imageID is the ID of a stored image.
func imageID(t *testing.T, root, name string) string {
	t.Helper()
	return strings.TrimSpace(mustStrata(t, root, "image", "inspect", "-f", "{{.ID}}", name))
}

const cacheDockerfile = `FROM busybox:test
ENV GREETING=hello
RUN echo "$GREETING" > /greeting
COPY app/ /app/
RUN cat /app/* > /all
CMD ["cat", "/all"]
`

// TestBuildCache builds, builds again in another process (every step from
// the cache, the same image, nothing run), changes one copied file (the
// steps from its COPY on run again), and prunes the cache.
func TestBuildCache(t *testing.T) {
	root := busyboxRoot(t, "")
	ctx := writeContext(t, map[string]string{"Dockerfile": cacheDockerfile, "app/a": "a\n", "app/b": "b\n"})
	first := stepStates(mustBuild(t, root, "-t", "cached:1", ctx))
	for _, s := range first[1:] {
		if !strings.HasPrefix(s, "RAN ") {
			t.Errorf("first build: %q, want every step run", s)
		}
	}
	id := imageID(t, root, "cached:1")
	if got := mustStrata(t, root, "run", "--rm", "cached:1"); got != "a\nb\n" {
		t.Errorf("the image prints %q", got)
	}

	// Another process: the cache is in the store.
	cmd := strataProcess(t, root, "build", "--progress", "plain", "-t", "cached:2", ctx)
	var progress bytes.Buffer
	cmd.Stderr = &progress
	if err := cmd.Run(); err != nil {
		t.Fatalf("rebuild: %v\n%s", err, progress.String())
	}
	second := stepStates(progress.String())
	for _, s := range second[1:] {
		if !strings.HasPrefix(s, "CACHED ") {
			t.Errorf("rebuild in another process: %q, want it from the cache", s)
		}
	}
	if strings.Contains(progress.String(), "#3 0.") {
		t.Errorf("the rebuild ran a RUN step:\n%s", progress.String())
	}
	if got := imageID(t, root, "cached:2"); got != id {
		t.Errorf("the rebuild made image %s, want the same %s", got, id)
	}
	if ps := mustStrata(t, root, "ps", "-aq"); ps != "" {
		t.Errorf("containers left behind: %q", ps)
	}

	os.WriteFile(filepath.Join(ctx, "app/b"), []byte("B\n"), 0o644)
	third := strings.Join(stepStates(mustBuild(t, root, "-t", "cached:3", ctx)), "\n")
	want := "? FROM busybox:test\nCACHED ENV GREETING=hello\nCACHED RUN echo \"$GREETING\" > /greeting\n" +
		"RAN COPY app/ /app/\nRAN RUN cat /app/* > /all\nRAN CMD [\"cat\", \"/all\"]"
	if third != strings.Replace(want, "? FROM", "RAN FROM", 1) {
		t.Errorf("after changing app/b:\n%s\nwant\n%s", third, want)
	}
	if got := mustStrata(t, root, "run", "--rm", "cached:3"); got != "a\nB\n" {
		t.Errorf("the rebuilt image prints %q", got)
	}

	pruned := mustStrata(t, root, "builder", "prune", "-f")
	if !strings.HasPrefix(pruned, "Deleted build cache objects:\n") || !strings.Contains(pruned, "Total reclaimed space:") {
		t.Errorf("builder prune printed:\n%s", pruned)
	}
	for _, s := range stepStates(mustBuild(t, root, "-t", "cached:4", ctx))[1:] {
		if !strings.HasPrefix(s, "RAN ") {
			t.Errorf("after builder prune: %q, want every step run", s)
		}
	}
	for _, s := range stepStates(mustBuild(t, root, "--no-cache", ctx))[1:] {
		if !strings.HasPrefix(s, "RAN ") {
			t.Errorf("--no-cache: %q, want every step run", s)
		}
	}
	// Images built before the prune still run: their layers were kept.
	if got := mustStrata(t, root, "run", "--rm", "cached:1"); got != "a\nb\n" {
		t.Errorf("after prune, the first image prints %q", got)
	}

	// A build that fails keeps the steps before the failure cached, their
	// layers stored (a layer's blob is stored while the next steps run).
	steps := "FROM busybox:test\nCOPY app/ /app/\nRUN cat /app/* > /all\n"
	failing := writeContext(t, map[string]string{"Dockerfile": steps + "RUN exit 3\n", "app/a": "kept\n"})
	if _, progress, code := buildOut(t, root, failing); code != 3 {
		t.Fatalf("a build whose last step fails: exit %d, want 3:\n%s", code, progress)
	}
	os.WriteFile(filepath.Join(failing, "Dockerfile"), []byte(steps+"CMD [\"cat\", \"/all\"]\n"), 0o644)
	fixed := strings.Join(stepStates(mustBuild(t, root, "-t", "fixed:1", failing)), "\n")
	if want := "RAN FROM busybox:test\nCACHED COPY app/ /app/\nCACHED RUN cat /app/* > /all\nRAN CMD [\"cat\", \"/all\"]"; fixed != want {
		t.Errorf("after a failed build, fixed:\n%s\nwant\n%s", fixed, want)
	}
	if got := mustStrata(t, root, "run", "--rm", "fixed:1"); got != "kept\n" {
		t.Errorf("the image built on the failed build's cache prints %q", got)
	}
}

const multiStageDockerfile = `ARG BASE=busybox:test
FROM $BASE AS build
ARG FLAVOUR=plain
WORKDIR /src
COPY . .
RUN echo "$FLAVOUR" > /out.txt && cat *.txt >> /out.txt && ls -A >> /out.txt

FROM build AS test
RUN echo tested > /tested

FROM ${BASE}
COPY --from=build /out.txt /out.txt
CMD ["cat", "/out.txt"]
`

// TestBuildStagesArgsIgnore: a multi-stage build keeps only the last
// stage's layers; --build-arg reaches RUN; --target builds an earlier
// stage; .dockerignore keeps files out of COPY.
func TestBuildStagesArgsIgnore(t *testing.T) {
	root := busyboxRoot(t, "")
	ctx := writeContext(t, map[string]string{"Dockerfile": multiStageDockerfile, "a.txt": "A\n",
		"secret.txt": "S\n", ".dockerignore": "secret.txt\nDockerfile\n"})
	if progress := mustBuild(t, root, "-t", "multi:1", "--build-arg", "FLAVOUR=spicy", ctx); !strings.Contains(progress, "] FROM busybox:test AS build\n") {
		t.Errorf("progress does not show FROM $BASE expanded:\n%s", progress)
	}
	if got := mustStrata(t, root, "run", "--rm", "multi:1"); got != "spicy\nA\n.dockerignore\na.txt\n" {
		t.Errorf("multi:1 prints %q", got)
	}
	base := strings.Count(mustStrata(t, root, "history", "-q", "busybox:test"), "\n")
	history := mustStrata(t, root, "history", "--no-trunc", "--format", "{{.CreatedBy}}", "multi:1")
	if n := strings.Count(history, "\n"); n != base+2 || strings.Contains(history, "FLAVOUR") {
		t.Errorf("multi:1 has the history of another stage:\n%s", history)
	}
	mustBuild(t, root, "-t", "multi:test", "--target", "test", ctx)
	if got := mustStrata(t, root, "run", "--rm", "multi:test", "cat", "/tested", "/out.txt"); got != "tested\nplain\nA\n.dockerignore\na.txt\n" {
		t.Errorf("--target test prints %q", got)
	}
	history = mustStrata(t, root, "history", "--no-trunc", "--format", "{{.CreatedBy}}", "multi:test")
	if !strings.Contains(history, "|1 FLAVOUR=plain /bin/sh -c echo") {
		t.Errorf("the RUN of stage build lacks its build arg in the history:\n%s", history)
	}

	bad := writeContext(t, map[string]string{"Dockerfile": "FROM busybox:test\nCOPY secret.txt /\n",
		"secret.txt": "S", ".dockerignore": "secret.txt"})
	if _, progress, code := buildOut(t, root, bad); code == 0 || !strings.Contains(progress, "excluded by .dockerignore") {
		t.Errorf("COPY of an ignored file: exit %d:\n%s", code, progress)
	}
	if _, progress, code := buildOut(t, root, "--target", "nope", ctx); code == 0 || !strings.Contains(progress, `target stage "nope" could not be found`) {
		t.Errorf("--target nope: exit %d:\n%s", code, progress)
	}
}

// TestBuildFailures: a failing RUN stops the build with its status and
// output and tags nothing; sources that leave the context, unreachable
// URLs and bad Dockerfiles get clear errors.
func TestBuildFailures(t *testing.T) {
	root := busyboxRoot(t, "")
	good := writeContext(t, map[string]string{"Dockerfile": "FROM busybox:test\nRUN echo good > /g\n"})
	mustBuild(t, root, "-t", "app:1", good)
	before := imageID(t, root, "app:1")
	failing := writeContext(t, map[string]string{"Dockerfile": "FROM busybox:test\nRUN echo half > /h\nRUN echo to stdout; echo to stderr >&2; exit 3\nRUN echo never\n"})
	_, progress, code := buildOut(t, root, "-t", "app:1", "-t", "app:new", failing)
	if code != 3 {
		t.Errorf("exit status %d, want the RUN's 3", code)
	}
	for _, want := range []string{"to stdout", "to stderr", "The command '/bin/sh -c echo to stdout; echo to stderr >&2; exit 3' returned a non-zero code: 3"} {
		if !strings.Contains(progress, want) {
			t.Errorf("the failure does not show %q:\n%s", want, progress)
		}
	}
	if strings.Contains(progress, "RUN echo never") {
		t.Errorf("the step after the failure ran:\n%s", progress)
	}
	if got := imageID(t, root, "app:1"); got != before {
		t.Errorf("app:1 moved to %s after a failed build", got)
	}
	if _, err := strata(t, root, nil, "image", "inspect", "app:new"); err == nil {
		t.Error("a failed build tagged app:new")
	}

	outside := filepath.Join(t.TempDir(), "outside.txt")
	os.WriteFile(outside, []byte("secret"), 0o644)
	escapes := writeContext(t, map[string]string{"Dockerfile": "", "in.txt": "in"})
	os.Symlink(outside, filepath.Join(escapes, "abs-link"))
	os.Symlink("../../"+filepath.Base(filepath.Dir(outside))+"/outside.txt", filepath.Join(escapes, "rel-link"))
	for _, tc := range []struct{ dockerfile, want string }{
		{"FROM busybox:test\nCOPY ../outside.txt /\n", "forbidden path outside the build context"},
		{"FROM busybox:test\nCOPY abs-link /\n", "outside the build context"},
		{"FROM busybox:test\nADD rel-link /\n", "outside the build context"},
		{"FROM busybox:test\nCOPY nothing* /x/\n", "no source files were specified"},
		{"FROM busybox:test\nCOPY in.txt in.txt /x\n", "the destination must be a directory and end with a /"},
		{"FROM busybox:test\nADD http://" + testutil.FreeAddr(t) + "/file.tar /\n", "cannot download it"},
		{"FROM busybox:test\nBOGUS x\n", "unknown instruction: BOGUS"},
		{"FROM busybox:test\nRUN --mount=type=cache,source=/x,target=/c true\n", "source=/x goes with from="},
		{"FROM busybox:test\nSTOPSIGNAL NOTASIGNAL\n", "not a signal"},
		{"FROM busybox:test\nEXPOSE 99999\n", "invalid port"},
		{"FROM busybox:test\nRUN no-such-program\n", "returned a non-zero code: 127"},
		{"FROM busybox:test\nRUN [\"/no/such/program\"]\n", "returned a non-zero code: 127"},
	} {
		os.WriteFile(filepath.Join(escapes, "Dockerfile"), []byte(tc.dockerfile), 0o644)
		_, progress, code := buildOut(t, root, escapes)
		if code == 0 || !strings.Contains(progress, tc.want) {
			t.Errorf("%q: exit %d, want an error with %q:\n%s", tc.dockerfile, code, tc.want, progress)
		}
	}
	if _, progress, code := buildOut(t, root, t.TempDir()); code == 0 || !strings.Contains(progress, "does not exist; name another with -f") {
		t.Errorf("no Dockerfile: exit %d:\n%s", code, progress)
	}
}

// TestBuildFeatures: heredocs, --chown and --chmod, ADD of a local tar,
// COPY --from an image, SHELL and a Dockerfile on standard input.
func TestBuildFeatures(t *testing.T) {
	root := busyboxRoot(t, "")
	var tarball bytes.Buffer
	tw := tar.NewWriter(&tarball)
	tw.WriteHeader(&tar.Header{Name: "pkg/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "pkg/file", Typeflag: tar.TypeReg, Mode: 0o640, Size: 4, Uid: 7, Gid: 8})
	tw.Write([]byte("tar\n"))
	tw.Close()
	ctx := writeContext(t, map[string]string{"Dockerfile": `FROM busybox:test
COPY --chown=app:app --chmod=0750 run.sh /home/app/
ADD pkg.tar /opt/
COPY --from=busybox:test /etc/passwd /copied-passwd
RUN <<EOF
echo one > /heredoc
echo two >> /heredoc
EOF
RUN <<EOF
#!/bin/sh
echo "from a script: $0" > /script
EOF
ENV WHO=world
COPY <<EOF /inline.txt
inline $WHO
EOF
SHELL ["/bin/sh", "-ec"]
RUN test "$(echo shell)" = shell
USER app
CMD ["sh", "-c", "stat -c '%a %u:%g %n' /home/app/run.sh /opt/pkg/file; cat /heredoc /script /inline.txt; head -1 /copied-passwd"]
`, "run.sh": "echo run\n", "pkg.tar": tarball.String()})
	mustBuild(t, root, "-t", "features:1", ctx)
	want := "750 1000:1000 /home/app/run.sh\n640 7:8 /opt/pkg/file\none\ntwo\nfrom a script: /dev/pipes/EOF\ninline world\nroot:x:0:0:root:/root:/bin/sh\n"
	if got := mustStrata(t, root, "run", "--rm", "features:1"); got != want {
		t.Errorf("features:1 prints\n%s\nwant\n%s", got, want)
	}
	out, err := strata(t, root, []byte("FROM busybox:test\nLABEL from=stdin\n"), "build", "-q", "--label", "extra=yes", "-")
	if err != nil || !strings.HasPrefix(out, "sha256:") {
		t.Fatalf("build - : %q, %v", out, err)
	}
	labels := mustStrata(t, root, "image", "inspect", "-f", "{{json .Config.Labels}}", strings.TrimSpace(out))
	if strings.TrimSpace(labels) != `{"extra":"yes","from":"stdin"}` {
		t.Errorf("labels %s", labels)
	}
}

// TestBuildPullsItsBase: FROM an image the store lacks pulls it (here from
// the reference registry), and --pull pulls it again when it changed there.
func TestBuildPullsItsBase(t *testing.T) {
	root := busyboxRoot(t, "")
	reg := testutil.StartDistribution(t, "")
	ref := reg.Addr + "/test/busybox:1"
	mustStrata(t, root, "tag", "busybox:test", ref)
	mustStrata(t, root, "push", ref)
	other := t.TempDir()
	ctx := writeContext(t, map[string]string{"Dockerfile": "FROM " + ref + "\nRUN echo pulled > /p\nCMD [\"cat\", \"/p\"]\n"})
	progress := mustBuild(t, other, "-t", "pulled:1", ctx)
	if !strings.Contains(progress, "pulling "+ref) {
		t.Errorf("the build did not say it pulls:\n%s", progress)
	}
	if got := mustStrata(t, other, "run", "--rm", "pulled:1"); got != "pulled\n" {
		t.Errorf("the image prints %q", got)
	}
	if progress := mustBuild(t, other, "-t", "pulled:1", ctx); strings.Contains(progress, "pulling") {
		t.Errorf("a second build pulled its stored base again:\n%s", progress)
	}
	// The base changes in the registry; --pull builds on the new one.
	mustStrata(t, root, "build", "-q", "-t", ref, writeContext(t, map[string]string{"Dockerfile": "FROM busybox:test\nRUN echo v2 > /v\n"}))
	mustStrata(t, root, "push", ref)
	mustBuild(t, other, "--pull", "-t", "pulled:2", ctx)
	if got := mustStrata(t, other, "run", "--rm", "pulled:2", "cat", "/v", "/p"); got != "v2\npulled\n" {
		t.Errorf("after --pull the image prints %q", got)
	}
}

// TestRelativeRoot builds and runs with --root given relative to the working
// directory: runc and the monitor are handed paths under it from elsewhere.
func TestRelativeRoot(t *testing.T) {
	root := busyboxRoot(t, "")
	ctx := writeContext(t, map[string]string{"Dockerfile": "FROM busybox:test\nRUN echo made > /made\n"})
	t.Chdir(filepath.Dir(root))
	rel := filepath.Base(root)
	mustBuild(t, rel, "-t", "relative:1", ctx)
	if got := mustStrata(t, rel, "run", "--rm", "relative:1", "cat", "/made"); got != "made\n" {
		t.Errorf("the image's /made holds %q", got)
	}
}
