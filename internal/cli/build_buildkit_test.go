package cli

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/strata-dev/strata/internal/image"
	"github.com/strata-dev/strata/internal/testutil"
)

// buildkitCases are Dockerfiles that use what BuildKit's Dockerfile
// frontend added; BASE stands for the busybox image, URL for a file served
// on loopback. Each is built by strata and by a current buildkitd, and the
// images compared: every file (type, mode, owner, size, content, link),
// the config, and the history's shape (which steps made layers).
var buildkitCases = []struct {
	name   string
	files  map[string]string
	args   []string          // strata build flags, and buildctl's (see buildctlArgs)
	secret string            // a secret "tok" for both, when set
	links  map[string]string // symlinks in the context: name -> target
}{{
	name: "copy-parents",
	files: map[string]string{"x/a.txt": "xa", "y/a.txt": "ya", "x/y/b.txt": "xyb", "src/a.txt": "1", "src/x/b.txt": "2",
		"src/x/y/c.md": "3", "Dockerfile": `FROM BASE
COPY ./x/a.txt ./y/a.txt /no_parents/
COPY --parents ./x/a.txt ./y/a.txt /parents/
COPY --parents ./x/./y/*.txt /pivot/
COPY --parents ./src/**/*.txt /star/
COPY --parents x /dir/
`},
}, {
	name: "copy-exclude",
	files: map[string]string{"hom1.txt": "1", "home.md": "m", "home/h.md": "h", "home/sub/s.txt": "s", "home/sub/k.md": "k",
		"Dockerfile": `FROM BASE
COPY --exclude=*.txt hom* /mydir/
COPY --exclude=**/*.md home /home2/
COPY --exclude=sub home /home3/
ADD --exclude=*.md home /home4/
`},
}, {
	name: "add",
	files: map[string]string{"pkg.tar": tarOf(map[string]string{"pkg/one": "1\n", "pkg/two": "2\n"}), "Dockerfile": `FROM BASE
ADD pkg.tar /unpacked/
ADD --unpack=false pkg.tar /raw/
ADD --checksum=SUM URL /d/
ADD URL /plain/named.txt
COPY --link --chmod=0750 --chown=7:8 pkg.tar /linked/
COPY --chmod=0750 pkg.tar /chmodded/sub/
COPY --chown=7:8 pkg.tar /chowned/sub/
COPY --chmod=0640 pkg.tar /deep/er/file.tar
`},
}, {
	name:   "run-mounts",
	secret: "s3cret",
	files: map[string]string{"src/a.txt": "a\n", "src/ignored.txt": "no", ".dockerignore": "src/ignored.txt\n", "Dockerfile": `FROM BASE AS tools
RUN echo tool > /tool.txt && mkdir /seed && echo seed > /seed/s.txt
FROM BASE
RUN --mount=type=bind,source=src,target=/src cp -r /src /copied
RUN --mount=type=cache,id=seeded,from=tools,source=/seed,target=/s cat /s/s.txt > /seeded
RUN --mount=type=bind,from=tools,source=/tool.txt,target=/t.txt cp /t.txt /fromstage
RUN --mount=type=cache,target=/cache echo hi > /cache/x && cp /cache/x /fromcache
RUN --mount=type=tmpfs,target=/tmp/t touch /tmp/t/x && ls /tmp/t > /tmpls
RUN --mount=type=secret,id=tok,required=true wc -c < /run/secrets/tok > /secretlen
RUN --mount=type=secret,id=tok,env=TOK,required=true echo ${#TOK} > /envlen
RUN --network=none echo none > /none
`},
}, {
	name: "context",
	files: map[string]string{"a.txt": "a", "b.md": "b", "logs/x.log": "x", "logs/keep.log": "k", "dir/sub/f.txt": "f",
		".dockerignore": "logs\n!logs/keep.log\n*.md\n", "Dockerfile": `FROM BASE
WORKDIR /w
COPY . ctx/
COPY *.txt dir /globbed/
COPY --from=IMAGE /bin/busybox /bb
COPY --chown=7:8 dir/sub/ ../owned/
ADD --chmod=0600 a.txt /modes/
`},
	links: map[string]string{"link.txt": "a.txt", "dirlink": "dir/sub"},
}, {
	name: "config",
	files: map[string]string{"a.txt": "a", "Dockerfile": `ARG TAG=test
FROM BASE
ARG V=1
ENV A=b C="d e"
WORKDIR /app
COPY <<EOF /app/inline.txt
inline $A
EOF
RUN <<EOF
echo one > /h1
echo two >> /h1
EOF
LABEL l1=v1 "l 2"=v2
EXPOSE 80 53/udp
VOLUME /data
USER 1000:1000
STOPSIGNAL SIGINT
HEALTHCHECK --interval=5s --retries=3 CMD true
SHELL ["/bin/sh", "-ec"]
ONBUILD RUN true
ENTRYPOINT ["sh"]
CMD ["-c", "echo hi"]
`},
	args: []string{"--build-arg", "V=2"},
}}

// TestBuildMatchesBuildKit holds strata to a current BuildKit (the
// version go.mod requires, dockerfile.v0 frontend) on this machine.
func TestBuildMatchesBuildKit(t *testing.T) {
	root := busyboxRoot(t, "")
	bk := testutil.StartBuildKit(t)
	_, base := busyboxInRegistry(t, root, "test")
	url, sum := serveFile(t, "downloaded\n")
	secret := filepath.Join(t.TempDir(), "tok")
	for _, tc := range buildkitCases {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{}
			for k, v := range tc.files {
				v = strings.ReplaceAll(strings.ReplaceAll(v, "FROM BASE", "FROM "+base), "--from=IMAGE", "--from="+base)
				v = strings.ReplaceAll(strings.ReplaceAll(v, "SUM", sum), "URL", url)
				files[k] = v
			}
			ctx := writeContext(t, files)
			for name, target := range tc.links {
				if err := os.Symlink(target, filepath.Join(ctx, name)); err != nil {
					t.Fatal(err)
				}
			}
			dir := t.TempDir()
			ours, theirs := filepath.Join(dir, "strata.tar"), filepath.Join(dir, "buildkit.tar")
			args, opts, extra := tc.args, buildctlOpts(tc.args), []string(nil)
			if tc.secret != "" {
				os.WriteFile(secret, []byte(tc.secret), 0o600)
				args = append(args, "--secret", "id=tok,src="+secret)
				extra = append(extra, "--secret", "id=tok,src="+secret)
			}
			mustBuild(t, root, append(args, "-o", "type=oci,dest="+ours, ctx)...)
			if out, err := bk.Build(t, ctx, theirs, opts, extra...); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			compareImages(t, testutil.ReadOCIArchive(t, ours), testutil.ReadOCIArchive(t, theirs))
		})
	}
}

// buildctlOpts turns strata's --build-arg flags into buildctl's options.
func buildctlOpts(args []string) []string {
	var opts []string
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "--build-arg" {
			opts = append(opts, "build-arg:"+args[i+1])
		}
	}
	return opts
}

// serveFile serves body on loopback until the test ends; it returns the
// URL and the body's digest.
func serveFile(t *testing.T, body string) (string, string) {
	t.Helper()
	l, err := net.Listen("tcp", testutil.FreeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) })}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return "http://" + l.Addr().String() + "/file.txt", fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(body)))
}

// compareImages reports every file and config field in which strata's
// image differs from BuildKit's.
func compareImages(t *testing.T, ours, theirs testutil.OCIImage) {
	t.Helper()
	var names []string
	for n := range ours.Files {
		names = append(names, n)
	}
	for n := range theirs.Files {
		if _, ok := ours.Files[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		o, ok1 := ours.Files[n]
		b, ok2 := theirs.Files[n]
		switch {
		case !ok1 && runcMountPoint(n, b):
			// BuildKit leaves the mount points runc makes in the first RUN's
			// layer when the base lacks them; strata, as docker's classic
			// builder, keeps them in an init layer under the step.
		case !ok1:
			t.Errorf("%s: BuildKit's image has it (%v), strata's does not", n, b)
		case !ok2:
			t.Errorf("%s: strata's image has it (%v), BuildKit's does not", n, o)
		case o != b:
			t.Errorf("%s: strata %v, BuildKit %v", n, o, b)
		}
	}
	oc, bc := configOf(t, ours.Config), configOf(t, theirs.Config)
	if oc != bc {
		t.Errorf("config differs:\nstrata:   %s\nBuildKit: %s", oc, bc)
	}
}

// runcMountPoint reports whether n is a directory runc makes to mount
// over in every container.
func runcMountPoint(n string, f testutil.ImageFile) bool {
	return (n == "/dev" || n == "/proc" || n == "/sys") && f.Type == '5'
}

// configOf is what the comparison holds of a config: how the image runs,
// its platform, and how many layers it has. (The history's text is not
// compared: strata writes docker's classic builder's, as `history` shows
// it, which also records ONBUILD; BuildKit writes its own.)
func configOf(t *testing.T, b []byte) string {
	cfg, err := image.ParseConfig(b)
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Config
	out, _ := json.Marshal(map[string]any{"os": cfg.OS, "arch": cfg.Architecture, "env": c.Env, "cmd": c.Cmd,
		"entrypoint": c.Entrypoint, "workdir": c.WorkingDir, "user": c.User, "labels": c.Labels, "ports": c.ExposedPorts,
		"volumes": c.Volumes, "stopsignal": c.StopSignal, "healthcheck": c.Healthcheck, "shell": c.Shell, "onbuild": c.OnBuild,
		"layers": len(cfg.RootFS.DiffIDs)})
	return string(out)
}
