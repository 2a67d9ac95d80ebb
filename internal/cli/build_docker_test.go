package cli

import (
	"archive/tar"
	"bytes"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/strata-dev/strata/internal/testutil"
)

// dockerCases are Dockerfiles built by strata and by docker 20.10's
// classic builder, whose images must have the same history, line for line,
// and print the same when run in either.
var dockerCases = []struct {
	name  string
	files map[string]string
	args  []string // build flags
	run   []string // run flags and args after the image
	want  string
}{{
	name: "instructions",
	files: map[string]string{"a.txt": "hello\n", "b.txt": "x\n", "sub/s.txt": "s\n", "Dockerfile": `FROM busybox:test AS base
ARG VERSION=1.0
ENV APP=demo B="two words"
WORKDIR /app
COPY a.txt sub ./
COPY --chown=app a.txt /other/
COPY *.txt /globbed/
ADD b.txt /b
RUN echo "building $APP $VERSION" && echo v$VERSION > /app/version
RUN ["sh", "-c", "echo exec form"]
RUN true
LABEL maintainer="me" version=$VERSION
EXPOSE 8080 53/udp
VOLUME /data /logs
USER app
STOPSIGNAL SIGINT
HEALTHCHECK --interval=5s --retries=3 CMD wget -q localhost || exit 1
SHELL ["/bin/sh", "-ec"]
ONBUILD RUN echo onbuild > /tmp/onbuild
MAINTAINER someone
ENTRYPOINT ["sh"]
CMD echo hi
WORKDIR sub
`},
	args: []string{"--build-arg", "VERSION=2"},
	run:  []string{"--entrypoint", "sh", "IMAGE", "-c", "cat /app/version /app/a.txt /globbed/*; stat -c '%u %n' /other/a.txt; id -u; pwd"},
	want: "v2\nhello\nhello\nx\n1000 /other/a.txt\n1000\n/app/sub\n",
}, {
	name: "multistage",
	files: map[string]string{"a.txt": "A\n", "secret.txt": "S\n", ".dockerignore": "secret.txt\nDockerfile\n",
		"pkg.tar": tarOf(map[string]string{"pkg/one": "1\n", "pkg/two": "2\n"}), "Dockerfile": multiStageDockerfile +
			"ADD pkg.tar /opt/\nCOPY --from=test /tested /\nCMD [\"sh\", \"-c\", \"cat /out.txt /tested /opt/pkg/*\"]\n"},
	args: []string{"--build-arg", "FLAVOUR=mild"},
	run:  []string{"IMAGE"},
	want: "mild\nA\n.dockerignore\na.txt\npkg.tar\ntested\n1\n2\n",
}, {
	name: "scratch",
	files: map[string]string{"Dockerfile": `FROM scratch
COPY --from=busybox:test /bin/busybox /bin/sh
ENV X=1
WORKDIR /work
CMD ["/bin/sh", "-c", "echo scratch $X $PATH; pwd"]
`},
	run:  []string{"IMAGE"},
	want: "scratch 1 /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n/work\n",
}, {
	name:  "onbuild",
	files: map[string]string{"Dockerfile": "FROM instructions\nUSER root\nRUN echo child > /child\n"},
	run:   []string{"--entrypoint", "cat", "IMAGE", "/tmp/onbuild", "/child"},
	want:  "onbuild\nchild\n",
}}

func tarOf(files map[string]string) string {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range []string{"pkg/one", "pkg/two"} {
		tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(files[name]))})
		tw.Write([]byte(files[name]))
	}
	tw.Close()
	return buf.String()
}

// contentHash is the part of COPY and ADD history that hashes what was
// copied: docker's tarsum of its context upload and strata's digest of the
// files differ, as image IDs do.
var contentHash = regexp.MustCompile(`(file|dir|multi):[0-9a-f]{64}`)

// historyOf is an image's history as `history --no-trunc` shows it:
// command and size, hashes of copied content masked.
func historyOf(out string) []string {
	return strings.Split(strings.TrimSpace(contentHash.ReplaceAllString(out, "$1:<hash>")), "\n")
}

// TestBuildMatchesDocker builds each case with strata and with docker's
// classic builder (Debian's docker 20.10), and checks that the histories
// match line for line (command and size), that the images have as many
// layers, and that strata's image prints the same in strata and, loaded
// with `strata save | docker load`, in docker, as docker's own.
func TestBuildMatchesDocker(t *testing.T) {
	root := busyboxRoot(t, "")
	d := testutil.StartDocker(t)
	base := filepath.Join(t.TempDir(), "busybox.tar")
	mustStrata(t, root, "save", "-o", base, "busybox:test")
	d.Run(t, "load", "-i", base)
	docker := testutil.Tool(t, "docker")
	historyFormat := "{{.CreatedBy}}|{{.Size}}"
	for _, tc := range dockerCases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := writeContext(t, tc.files)
			mustBuild(t, root, append(append([]string{"-t", tc.name}, tc.args...), ctx)...)
			env := append(d.Env(), "DOCKER_BUILDKIT=0")
			if out, err := testutil.RunErr(env, docker, append(append([]string{"build", "-t", tc.name}, tc.args...), ctx)...); err != nil {
				t.Fatalf("docker build: %v\n%s", err, out)
			}
			got := historyOf(mustStrata(t, root, "history", "--no-trunc", "--format", historyFormat, tc.name))
			want := historyOf(d.Run(t, "history", "--no-trunc", "--format", historyFormat, tc.name))
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("history differs from docker's:\nstrata:\n%s\ndocker:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			layers := "{{len .RootFS.Layers}}"
			if s, dk := mustStrata(t, root, "image", "inspect", "-f", layers, tc.name), d.Run(t, "image", "inspect", "-f", layers, tc.name); s != dk {
				t.Errorf("strata's image has %s layers, docker's %s", strings.TrimSpace(s), strings.TrimSpace(dk))
			}
			runArgs := func(img string) []string {
				args := []string{"run", "--rm"}
				for _, a := range tc.run {
					args = append(args, strings.ReplaceAll(a, "IMAGE", img))
				}
				return args
			}
			check := func(where, got string) {
				t.Helper()
				if got != tc.want {
					t.Errorf("%s prints %q, want %q", where, got, tc.want)
				}
			}
			check("strata's image in strata", mustStrata(t, root, runArgs(tc.name)...))
			check("docker's image in docker", d.Run(t, append([]string{"run", "--network", "none"}, runArgs(tc.name)[1:]...)...))
			saved := filepath.Join(t.TempDir(), "image.tar")
			ours := "strata-built-" + tc.name
			mustStrata(t, root, "tag", tc.name, ours)
			mustStrata(t, root, "save", "-o", saved, ours)
			d.Run(t, "load", "-i", saved)
			check("strata's image in docker", d.Run(t, append([]string{"run", "--network", "none"}, runArgs(ours)[1:]...)...))
			if h := historyOf(d.Run(t, "history", "--no-trunc", "--format", historyFormat, ours)); fmt.Sprint(h) != fmt.Sprint(want) {
				t.Errorf("strata's image, loaded in docker, shows another history:\n%s", strings.Join(h, "\n"))
			}
		})
	}
}
