package container

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/strata-dev/strata/internal/archive"
	"github.com/strata-dev/strata/internal/image"
	"github.com/strata-dev/strata/internal/network"
	"github.com/strata-dev/strata/internal/runtime"
	"github.com/strata-dev/strata/internal/snapshot"
	"github.com/strata-dev/strata/internal/store"
	"github.com/strata-dev/strata/internal/testutil"
)

var ctx = context.Background()

// env is a store holding a busybox image, and a manager of its containers.
type env struct {
	st  *store.Store
	m   *Manager
	img store.Image
}

// newEnv makes a store with busybox:test (Debian's busybox-static and a
// symlink per applet) and opens its containers with the snapshotter name.
func newEnv(t *testing.T, snapshotter string) *env {
	t.Helper()
	testutil.RequireRoot(t)
	testutil.Tool(t, "runc")
	root := t.TempDir()
	if snapshotter == "overlay" {
		if err := snapshot.OverlaySupported(filepath.Join(root, "probe")); err != nil {
			t.Skipf("overlayfs does not work here: %v", err)
		}
	}
	rootfs := t.TempDir()
	testutil.BusyboxRootfs(t, rootfs)
	var layer bytes.Buffer
	if err := archive.WriteDir(ctx, &layer, rootfs); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	tag, _ := image.ParseTag("busybox:test")
	img, err := st.Import(ctx, &layer, store.ImportOptions{Tag: tag, Changes: []string{`CMD ["sh"]`}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(st, snapshotter, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{st: st, m: m, img: img}
	t.Cleanup(func() {
		cs, _ := m.List(ctx)
		for _, c := range cs {
			m.Remove(ctx, c.ID, true)
		}
		network.Open(root).Down()
	})
	return e
}

// run creates a container of img running args and runs it, returning its
// output and exit status.
func (e *env) run(t *testing.T, img store.Image, o runtime.Options, args ...string) (string, string, int, Container) {
	t.Helper()
	o.Cmd = args
	c, err := e.m.Create(ctx, img, CreateOptions{Image: "busybox:test", Run: o})
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code, err := e.start(t, c.ID, nil)
	if err != nil {
		t.Fatalf("run %v: %v (status %d, stderr %q)", args, err, code, stderr)
	}
	return stdout, stderr, code, c
}

// start runs an existing container in the foreground.
func (e *env) start(t *testing.T, id string, stdin io.Reader) (string, string, int, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	code, err := e.m.Run(ctx, id, IO{Stdin: stdin, Stdout: &out, Stderr: &errOut})
	return out.String(), errOut.String(), code, err
}

// describeStack describes every committed snapshot, through views.
func describeStack(t *testing.T, sn snapshot.Snapshotter) map[string]string {
	t.Helper()
	out := map[string]string{}
	var names []string
	sn.Walk(ctx, func(i snapshot.Info) error {
		if i.Kind == snapshot.KindCommitted {
			names = append(names, i.Name)
		}
		return nil
	})
	for _, n := range names {
		key := "describe-" + n
		mounts, err := sn.View(ctx, key, n, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = snapshot.WithTempMount(ctx, sn, mounts, func(root string) error {
			out[n] = testutil.DescribeTree(t, root, true)
			return nil
		})
		sn.Remove(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func forEachSnapshotter(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, name := range []string{"overlay", "native"} {
		t.Run(name, func(t *testing.T) { fn(t, newEnv(t, name)) })
	}
}

// changes is what the containers of these tests do to busybox.
const changes = `echo changed > /etc/passwd && echo new > /new && rm /bin/ls && rm -rf /root && mkdir -p /srv/data && echo 1 > /srv/data/f`

func TestLowerLayersUnchanged(t *testing.T) {
	forEachSnapshotter(t, func(t *testing.T, e *env) {
		e.run(t, e.img, runtime.Options{}, "true") // unpacks the image and its init layer
		before := describeStack(t, e.m.Snapshotter())
		if len(before) < 2 {
			t.Fatalf("expected the image's layer and an init layer, found %d snapshots", len(before))
		}
		_, stderr, code, _ := e.run(t, e.img, runtime.Options{}, "sh", "-c", changes+" && rm -rf /home && mkdir -p /home/new")
		if code != 0 {
			t.Fatalf("status %d: %s", code, stderr)
		}
		after := describeStack(t, e.m.Snapshotter())
		for name, desc := range before {
			if after[name] != desc {
				t.Errorf("committed snapshot %s changed under a container:\nbefore:\n%s\nafter:\n%s", name, desc, after[name])
			}
		}
	})
}

func TestTwoContainersShareTheirImage(t *testing.T) {
	forEachSnapshotter(t, func(t *testing.T, e *env) {
		var cs []Container
		for _, who := range []string{"one", "two"} {
			_, _, _, c := e.run(t, e.img, runtime.Options{}, "sh", "-c", "echo "+who+" > /mine && echo "+who+" >> /etc/passwd")
			cs = append(cs, c)
		}
		if cs[0].Settings.Parent != cs[1].Settings.Parent || cs[0].Settings.Parent == "" {
			t.Fatalf("the two containers sit on %q and %q, want one shared snapshot", cs[0].Settings.Parent, cs[1].Settings.Parent)
		}
		for i, who := range []string{"one", "two"} {
			c, err := e.m.Get(ctx, cs[i].ID)
			if err != nil {
				t.Fatal(err)
			}
			c.Settings.Args = []string{"sh", "-c", "cat /mine; tail -n 1 /etc/passwd"}
			rerun(t, e, c)
			out, _, code, err := e.start(t, c.ID, nil)
			if err != nil || code != 0 || out != who+"\n"+who+"\n" {
				t.Errorf("container %s sees %q (status %d, %v)", who, out, code, err)
			}
			changes, err := e.m.Diff(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got := lines(changes); got != "C /etc C /etc/passwd A /mine" {
				t.Errorf("container %s: diff %s", who, got)
			}
		}
	})
}

// rerun saves new settings for an existing container, to run it again
// with another command.
func rerun(t *testing.T, e *env, c Container) {
	t.Helper()
	_, err := e.st.UpdateContainer(ctx, c.ID, func(r *store.Container) error {
		b, err := jsonSettings(c.Settings)
		r.Settings = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func jsonSettings(s Settings) ([]byte, error) { return json.Marshal(s) }

func lines(cs []archive.Change) string {
	var out []string
	for _, c := range cs {
		out = append(out, c.String())
	}
	return strings.Join(out, " ")
}

func TestDiffCommitAndRunAgain(t *testing.T) {
	forEachSnapshotter(t, func(t *testing.T, e *env) {
		_, _, _, c := e.run(t, e.img, runtime.Options{Env: []string{"MODE=committed"}}, "sh", "-c", changes)
		got, err := e.m.Diff(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := "C /bin D /bin/ls C /etc C /etc/passwd A /new D /root A /srv A /srv/data A /srv/data/f"
		if lines(got) != want {
			t.Fatalf("diff:\n%s\nwant:\n%s", lines(got), want)
		}
		img, err := e.m.Commit(ctx, c.ID, CommitOptions{Ref: "committed:1", Message: "a test commit", Changes: []string{"LABEL stage=two"}})
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := e.m.ImageConfig(ctx, img)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(cfg.RootFS.DiffIDs); n != 2 || cfg.Config.Labels["stage"] != "two" || !slices.Contains(cfg.Config.Env, "MODE=committed") {
			t.Errorf("committed config: %d layers, labels %v, env %v", n, cfg.Config.Labels, cfg.Config.Env)
		}
		if h := cfg.History[len(cfg.History)-1]; h.Comment != "a test commit" || !strings.HasPrefix(h.CreatedBy, "sh -c echo changed") {
			t.Errorf("history entry %+v", h)
		}
		out, _, code, _ := e.run(t, img, runtime.Options{}, "sh", "-c",
			"cat /etc/passwd /new /srv/data/f; test -e /bin/ls || echo no-ls; test -e /root || echo no-root; echo $MODE")
		if want := "changed\nnew\n1\nno-ls\nno-root\ncommitted\n"; out != want || code != 0 {
			t.Fatalf("the committed image runs with %q (status %d), want %q", out, code, want)
		}
		var exported bytes.Buffer
		if err := e.m.Export(ctx, c.ID, &exported); err != nil {
			t.Fatal(err)
		}
		names := tarNames(t, exported.Bytes())
		if !names["new"] || !names["bin/busybox"] || names["bin/ls"] || names["root/"] {
			t.Errorf("export: new %v, bin/busybox %v, bin/ls %v, root/ %v", names["new"], names["bin/busybox"], names["bin/ls"], names["root/"])
		}
	})
}

func tarNames(t *testing.T, b []byte) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names[h.Name] = true
	}
}

// TestOpaqueDirectoryThroughCommit replaces a directory of the image; the
// committed image must hold only the new contents, however the
// snapshotter records it (an opaque directory or whiteouts).
func TestOpaqueDirectoryThroughCommit(t *testing.T) {
	forEachSnapshotter(t, func(t *testing.T, e *env) {
		_, _, _, c := e.run(t, e.img, runtime.Options{}, "sh", "-c", "rm -rf /home && mkdir -p /home/new && echo n > /home/new/f")
		img, err := e.m.Commit(ctx, c.ID, CommitOptions{Ref: "opaque:1"})
		if err != nil {
			t.Fatal(err)
		}
		out, _, _, _ := e.run(t, img, runtime.Options{}, "sh", "-c", "ls -A /home; cat /home/new/f")
		if out != "new\nn\n" {
			t.Fatalf("/home in the committed image: %q, want only new/", out)
		}
	})
}

func TestRunLikeDocker(t *testing.T) {
	e := newEnv(t, "")
	cases := []struct {
		name   string
		o      runtime.Options
		args   []string
		stdin  string
		out    string
		status int
	}{
		{name: "exit status", args: []string{"sh", "-c", "exit 7"}, status: 7},
		{name: "stdout", args: []string{"echo", "hello"}, out: "hello\n"},
		{name: "stdin", o: runtime.Options{Stdin: true}, args: []string{"cat"}, stdin: "piped\n", out: "piped\n"},
		{name: "image CMD", args: nil, stdin: "echo from-cmd\n", o: runtime.Options{Stdin: true}, out: "from-cmd\n"},
		{name: "env", o: runtime.Options{Env: []string{"A=1", "A=2", "B=x y"}}, args: []string{"sh", "-c", "echo $A $B $HOME $PATH"},
			out: "2 x y /root " + runtime.DefaultPath + "\n"},
		{name: "user by name", o: runtime.Options{User: "app"}, args: []string{"sh", "-c", "id; echo $HOME"}, out: "uid=1000(app) gid=1000(app) groups=10(wheel),1000(app)\n/home/app\n"},
		{name: "uid:gid", o: runtime.Options{User: "4242:4343"}, args: []string{"id"}, out: "uid=4242 gid=4343 groups=4343\n"},
		{name: "working dir made", o: runtime.Options{WorkingDir: "/work/here"}, args: []string{"pwd"}, out: "/work/here\n"},
		{name: "entrypoint", o: runtime.Options{Entrypoint: &[]string{"echo", "via"}}, args: []string{"entry"}, out: "via entry\n"},
		{name: "hostname", o: runtime.Options{Hostname: "box"}, args: []string{"sh", "-c", "hostname; cat /etc/hostname"}, out: "box\nbox\n"},
		{name: "network none has only a loopback", o: runtime.Options{Network: "none"}, args: []string{"sh", "-c", "ls /sys/class/net; ping -c1 -W1 127.0.0.1 >/dev/null && echo lo-works"}, out: "lo\nlo-works\n"},
		{name: "the default network has eth0", args: []string{"sh", "-c", "ls /sys/class/net; grep nameserver /etc/resolv.conf"}, out: "eth0\nlo\nnameserver 10.0.2.3\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := c.o
			o.Cmd = c.args
			ct, err := e.m.Create(ctx, e.img, CreateOptions{Run: o, Image: "busybox:test"})
			if err != nil {
				t.Fatal(err)
			}
			var stdin io.Reader
			if c.stdin != "" {
				stdin = strings.NewReader(c.stdin)
			}
			out, stderr, code, err := e.start(t, ct.ID, stdin)
			if err != nil || code != c.status || (c.out != "" && out != c.out) {
				t.Fatalf("stdout %q stderr %q status %d err %v; want stdout %q status %d", out, stderr, code, err, c.out, c.status)
			}
		})
	}
}

func TestStartFailures(t *testing.T) {
	e := newEnv(t, "")
	cases := []struct {
		args   []string
		o      runtime.Options
		status int
		want   string
	}{
		{args: []string{"nope"}, status: 127, want: `exec: "nope": executable file not found in $PATH`},
		{args: []string{"/etc/passwd"}, status: 126, want: "permission denied"},
		{args: []string{"/no/such"}, status: 127, want: "no such file or directory"},
		{args: []string{"true"}, o: runtime.Options{User: "nobody-here"}, status: 125, want: "unable to find user nobody-here"},
	}
	for _, c := range cases {
		o := c.o
		o.Cmd = c.args
		ct, err := e.m.Create(ctx, e.img, CreateOptions{Run: o})
		if err != nil {
			t.Fatal(err)
		}
		_, _, code, err := e.start(t, ct.ID, nil)
		if code != c.status || err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: status %d, %v; want %d and %q", c.args, code, err, c.status, c.want)
		}
		if got, _ := e.m.Get(ctx, ct.ID); got.State != store.StateExited || got.ExitCode != c.status {
			t.Errorf("%v: recorded %s (%d)", c.args, got.State, got.ExitCode)
		}
	}
}

func TestLogsKeepStreams(t *testing.T) {
	e := newEnv(t, "")
	_, _, _, c := e.run(t, e.img, runtime.Options{}, "sh", "-c", "echo out1; echo err1 >&2; printf partial")
	var out, errOut bytes.Buffer
	if err := ReadLog(e.m.LogPath(c.ID), LogOptions{Tail: -1}, &out, &errOut, func() bool { return false }); err != nil {
		t.Fatal(err)
	}
	if out.String() != "out1\npartial" || errOut.String() != "err1\n" {
		t.Fatalf("log stdout %q stderr %q", out.String(), errOut.String())
	}
	out.Reset()
	ReadLog(e.m.LogPath(c.ID), LogOptions{Tail: 1}, &out, &errOut, func() bool { return false })
	if out.String() != "partial" {
		t.Fatalf("--tail 1: %q", out.String())
	}
}

// TestDiskOfTwentyContainers measures what 20 containers of one image that
// each write 1 KiB take: on overlayfs, their own changes and no copy of the
// image.
func TestDiskOfTwentyContainers(t *testing.T) {
	forEachSnapshotter(t, func(t *testing.T, e *env) {
		var total int64
		for i := range 20 {
			_, _, _, c := e.run(t, e.img, runtime.Options{}, "sh", "-c", fmt.Sprintf("head -c 1024 /dev/urandom > /data-%d", i))
			n, err := e.m.Usage(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			total += n
		}
		t.Logf("%s: 20 containers writing 1 KiB each take %d bytes of their own (image: %d bytes)", e.m.Snapshotter().Name(), total, e.img.Size)
		if e.m.Snapshotter().Name() == "overlay" && total > e.img.Size/4 {
			t.Errorf("20 overlay containers take %d bytes, as much as copies of the %d-byte image", total, e.img.Size)
		}
		if e.m.Snapshotter().Name() == "native" && total < 20*e.img.Size/2 {
			t.Errorf("20 copying containers take %d bytes: they should hold a copy of the image each", total)
		}
	})
}
