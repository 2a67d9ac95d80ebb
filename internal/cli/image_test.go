package cli

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func layerTar(t *testing.T, name, body string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
	tw.Write([]byte(body))
	tw.Close()
	return buf.Bytes()
}

func TestImageCommands(t *testing.T) {
	root := t.TempDir()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "etc"), 0o755)
	os.WriteFile(filepath.Join(dir, "etc", "motd"), []byte("hi\n"), 0o644)
	id := strings.TrimSpace(mustStrata(t, root, "image", "import", "--change", `CMD ["/bin/sh"]`, "-c", "LABEL tier=base",
		"-m", "from a directory", dir, "base:1"))
	if !strings.HasPrefix(id, "sha256:") {
		t.Fatalf("import printed %q, want an image ID", id)
	}
	tarball := filepath.Join(t.TempDir(), "rootfs.tar")
	os.WriteFile(tarball, layerTar(t, "app", "v1"), 0o644)
	mustStrata(t, root, "import", tarball, "app:1")
	if _, err := strata(t, root, layerTar(t, "app", "v2"), "import", "-", "localhost:5000/team/app"); err != nil {
		t.Fatal(err)
	}
	mustStrata(t, root, "tag", "base:1", "base:latest")
	mustStrata(t, root, "image", "tag", id[7:19], "example.com/base:2")

	ls := mustStrata(t, root, "images", "--format", "{{.Repository}}:{{.Tag}}")
	want := "localhost:5000/team/app:latest\napp:1\nbase:1\nbase:latest\nexample.com/base:2\n"
	if ls != want {
		t.Fatalf("images:\n%s\nwant:\n%s", ls, want)
	}
	if got := mustStrata(t, root, "images", "-q", "--filter", "label=tier=base"); got != strings.Repeat(id[7:19]+"\n", 3) {
		t.Fatalf("label filter: %q", got)
	}
	if got := mustStrata(t, root, "images", "--format", "{{.Tag}}", "--filter", "before=app:1"); got != "1\nlatest\n2\n" {
		t.Fatalf("before filter: %q", got)
	}
	if got := mustStrata(t, root, "images", "--format", "{{.Repository}}", "--filter", "since=app:1"); got != "localhost:5000/team/app\n" {
		t.Fatalf("since filter: %q", got)
	}
	if got := mustStrata(t, root, "image", "inspect", "-f", "{{.Comment}}|{{.Config.Cmd}}|{{.RepoTags}}", "base:1"); got != "from a directory|[/bin/sh]|[base:1 base:latest example.com/base:2]\n" {
		t.Fatalf("inspect -f: %q", got)
	}
	if got := mustStrata(t, root, "history", "--format", "{{.Comment}}", "app:1"); !strings.HasPrefix(got, "Imported from ") {
		t.Fatalf("history comment: %q", got)
	}
	if got := mustStrata(t, root, "image", "inspect", "--raw", "manifest", "-f", "{{.mediaType}}", "app"+":1"); got != "application/vnd.oci.image.manifest.v1+json\n" {
		t.Fatalf("inspect --raw manifest: %q", got)
	}

	// Untag one name, then the image with its last tag goes, as docker rmi.
	if got := mustStrata(t, root, "rmi", "base:latest"); got != "Untagged: base:latest\n" {
		t.Fatalf("rmi base:latest: %q", got)
	}
	if _, err := strata(t, root, nil, "rmi", id[7:19]); err == nil || !strings.Contains(err.Error(), "must be forced") {
		t.Fatalf("rmi of an image in two repositories: %v", err)
	}
	got := mustStrata(t, root, "image", "rm", "-f", id[7:19])
	if !strings.Contains(got, "Untagged: base:1\nUntagged: example.com/base:2\nDeleted: "+id+"\n") {
		t.Fatalf("rmi -f:\n%s", got)
	}
	// Re-import moves app:1; the old image dangles and prune takes it.
	os.WriteFile(tarball, layerTar(t, "app", "v3"), 0o644)
	mustStrata(t, root, "import", tarball, "app:1")
	if got := mustStrata(t, root, "images", "--filter", "dangling=true", "--format", "{{.Repository}}:{{.Tag}}"); got != "<none>:<none>\n" {
		t.Fatalf("dangling: %q", got)
	}
	got = mustStrata(t, root, "image", "prune", "-f")
	if !strings.HasPrefix(got, "Deleted Images:\ndeleted: sha256:") || !strings.Contains(got, "Total reclaimed space: ") || strings.Contains(got, "space: 0B") {
		t.Fatalf("prune:\n%s", got)
	}
	if got, _ := strata(t, root, []byte("n\n"), "system", "prune", "-a"); !strings.Contains(got, "Are you sure") || strings.Contains(got, "Total") {
		t.Fatalf("system prune answered no still pruned:\n%s", got)
	}
	df := mustStrata(t, root, "system", "df")
	if lines := strings.Split(df, "\n"); !strings.HasPrefix(df, "TYPE") || len(lines) < 2 ||
		strings.Join(strings.Fields(lines[1])[:2], " ") != "Images 2" {
		t.Fatalf("system df:\n%s", df)
	}
}

func TestSaveToStdoutLoadFromStdin(t *testing.T) {
	root, other := t.TempDir(), t.TempDir()
	if _, err := strata(t, root, layerTar(t, "f", "x"), "import", "-", "x:1"); err != nil {
		t.Fatal(err)
	}
	archive := mustStrata(t, root, "save", "x:1")
	out, err := strata(t, other, []byte(archive), "load")
	if err != nil || out != "Loaded image: x:1\n" {
		t.Fatalf("load from stdin = %q, %v", out, err)
	}
	if a, b := mustStrata(t, root, "images", "-q"), mustStrata(t, other, "images", "-q"); a != b || a == "" {
		t.Fatalf("the loaded image differs: %q vs %q", a, b)
	}
}

func TestInvalidInputErrors(t *testing.T) {
	root := t.TempDir()
	if _, err := strata(t, root, layerTar(t, "f", "x"), "import", "-", "x:1"); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"tag", "x:1", "Bad/Name"}, {"tag", "x:1", "x@sha256:" + strings.Repeat("a", 64)}, {"import", "-", "a b"},
		{"tag", "nosuch", "y:1"}, {"rmi", "nosuch:1"}, {"images", "--filter", "colour=red"}, {"history", "nosuch"},
		{"save", "--format", "zip", "x:1"}, {"save", "--format", "oci-dir", "x:1"}, {"import", "--change", "RUN rm -rf /", "-"},
	} {
		if out, err := strata(t, root, nil, args...); err == nil {
			t.Errorf("strata %s succeeded: %q", strings.Join(args, " "), out)
		} else {
			t.Logf("strata %s: %v", strings.Join(args, " "), err)
		}
	}
	if got := mustStrata(t, root, "images", "--format", "{{.Repository}}:{{.Tag}}"); got != "x:1\n" {
		t.Fatalf("failed commands changed the store: %q", got)
	}
}
