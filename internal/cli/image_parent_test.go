package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-dev/strata/internal/archive"
	"github.com/strata-dev/strata/internal/testutil"
)

// parentEngine is strata or docker, as the parent test drives them.
type parentEngine struct {
	name  string
	run   func(args ...string) string
	build func(tag, dir string)
	// made lists the images the engine made of its own accord (docker's
	// intermediate build images), to tell them from the test's.
	made func() map[string]bool
}

// TestParentsMatchDocker makes the same images in strata and in docker
// 20.10 (classic builder): a busybox rootfs imported, a container of it
// committed, and builds FROM each, and checks that history shows the same
// local images on the same rows, and inspect the same Parent, apart from the
// images docker made itself (its intermediate images, which strata does not
// make: there strata shows <missing>, and as Parent the nearest image docker
// did not make).
func TestParentsMatchDocker(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.Tool(t, "runc")
	d := testutil.StartDocker(t)
	docker := testutil.Tool(t, "docker")
	rootfs := t.TempDir()
	testutil.BusyboxRootfs(t, rootfs)
	tarball := filepath.Join(t.TempDir(), "rootfs.tar")
	f, err := os.Create(tarball)
	if err != nil {
		t.Fatal(err)
	}
	if err := archive.WriteDir(context.Background(), f, rootfs); err != nil {
		t.Fatal(err)
	}
	f.Close()
	root := t.TempDir()
	t.Cleanup(func() { strata(t, root, nil, "rm", "-f", "ct") })
	engines := []parentEngine{{
		name:  "strata",
		run:   func(args ...string) string { return mustStrata(t, root, args...) },
		build: func(tag, dir string) { mustBuild(t, root, "-t", tag, dir) },
		made:  func() map[string]bool { return nil },
	}, {
		name: "docker",
		run:  func(args ...string) string { return d.Run(t, args...) },
		build: func(tag, dir string) {
			if out, err := testutil.RunErr(append(d.Env(), "DOCKER_BUILDKIT=0"), docker, "build", "-t", tag, dir); err != nil {
				t.Fatalf("docker build: %v\n%s", err, out)
			}
		},
		made: func() map[string]bool {
			out := map[string]bool{}
			for _, id := range strings.Fields(d.Run(t, "images", "-a", "-q", "--no-trunc")) {
				out[id] = true
			}
			return out
		},
	}}
	dockerfiles := map[string]string{
		"built:1":   "FROM committed:1\nENV A=1\nRUN echo built > /built\nCMD [\"cat\", \"/built\"]\n",
		"onestep:1": "FROM busybox:test\nRUN echo one > /one\n",
	}
	images := []string{"busybox:test", "committed:1", "built:1", "onestep:1"}
	seen := map[string]map[string][]string{} // engine, image: history rows, then Parent
	for _, e := range engines {
		e.run("import", "-c", `CMD ["sh"]`, tarball, "busybox:test")
		run := []string{"run", "--name", "ct", "busybox:test", "sh", "-c", "echo x > /x"}
		if e.name == "docker" {
			run = append([]string{"run", "--network", "none"}, run[1:]...)
		}
		e.run(run...)
		e.run("commit", "-m", "made here", "ct", "committed:1")
		for _, tag := range []string{"built:1", "onestep:1"} {
			e.build(tag, writeContext(t, map[string]string{"Dockerfile": dockerfiles[tag]}))
		}
		names := map[string]string{"<missing>": "<missing>", "": ""}
		for _, img := range images {
			names[strings.TrimSpace(e.run("image", "inspect", "-f", "{{.Id}}", img))] = img
		}
		made := e.made()
		// name is what an ID means: one of the test's images, <missing>, or
		// for an image docker made, the nearest image it descends from that
		// docker did not make.
		var name func(id string) string
		name = func(id string) string {
			if n, ok := names[id]; ok {
				return n
			}
			if made[id] {
				return name(strings.TrimSpace(e.run("image", "inspect", "-f", "{{.Parent}}", id)))
			}
			t.Errorf("%s: unknown image ID %q", e.name, id)
			return id
		}
		seen[e.name] = map[string][]string{}
		for _, img := range images {
			var rows []string
			for _, line := range strings.Split(strings.TrimSpace(e.run("history", "--no-trunc",
				"--format", "{{.ID}}|{{.CreatedBy}}|{{.Size}}|{{.Comment}}", img)), "\n") {
				id, rest, _ := strings.Cut(line, "|")
				n, ok := names[id]
				if !ok && made[id] {
					n = "<missing>" // strata makes no intermediate images
				} else if !ok {
					n = name(id)
				}
				rest = contentHash.ReplaceAllString(rest, "$1:<hash>")
				rows = append(rows, n+"|"+rest)
			}
			parent := name(strings.TrimSpace(e.run("image", "inspect", "-f", "{{.Parent}}", img)))
			seen[e.name][img] = append(rows, "Parent: "+parent)
		}
	}
	for _, img := range images {
		got, want := strings.Join(seen["strata"][img], "\n"), strings.Join(seen["docker"][img], "\n")
		if got != want {
			t.Errorf("%s: strata shows\n%s\ndocker shows\n%s", img, got, want)
		}
	}
	// The rows that must name local images do, so the comparison above
	// compared something.
	if h := seen["strata"]["built:1"]; len(h) != 6 || !strings.HasPrefix(h[3], "committed:1|") ||
		!strings.HasPrefix(h[4], "busybox:test|") || h[5] != "Parent: committed:1" {
		t.Errorf("strata's history of built:1 lacks its local images:\n%s", strings.Join(h, "\n"))
	}
}
