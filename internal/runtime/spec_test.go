package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-dev/strata/internal/image"
)

func TestCommand(t *testing.T) {
	empty := []string{""}
	cases := []struct {
		name       string
		entrypoint []string
		cmd        []string
		o          Options
		want       string // "" means an error
	}{
		{name: "image cmd", cmd: []string{"sh"}, want: "sh"},
		{name: "cmd replaced", cmd: []string{"sh"}, o: Options{Cmd: []string{"echo", "hi"}}, want: "echo hi"},
		{name: "entrypoint and cmd", entrypoint: []string{"/init"}, cmd: []string{"--serve"}, want: "/init --serve"},
		{name: "args go to the entrypoint", entrypoint: []string{"/init"}, cmd: []string{"--serve"}, o: Options{Cmd: []string{"--check"}}, want: "/init --check"},
		{name: "new entrypoint drops the image's cmd", entrypoint: []string{"/init"}, cmd: []string{"--serve"}, o: Options{Entrypoint: &[]string{"ls"}}, want: "ls"},
		{name: "entrypoint cleared", entrypoint: []string{"/init"}, o: Options{Entrypoint: &empty, Cmd: []string{"true"}}, want: "true"},
		{name: "nothing to run", want: ""},
	}
	for _, c := range cases {
		got, err := Command(image.ContainerConfig{Entrypoint: c.entrypoint, Cmd: c.cmd}, c.o)
		if c.want == "" {
			if err == nil {
				t.Errorf("%s: %v, want an error", c.name, got)
			}
			continue
		}
		if err != nil || strings.Join(got, " ") != c.want {
			t.Errorf("%s: %v, %v; want %q", c.name, got, err, c.want)
		}
	}
}

func TestEnvironment(t *testing.T) {
	cfg := image.ContainerConfig{Env: []string{"PATH=/opt/bin", "A=image", "B=image"}}
	got := Environment(cfg, Options{Env: []string{"A=flag", "C=flag"}, Tty: true}, "host1", "/root")
	want := "PATH=/opt/bin A=flag B=image C=flag HOSTNAME=host1 HOME=/root TERM=xterm"
	if strings.Join(got, " ") != want {
		t.Fatalf("env %v\nwant %s", got, want)
	}
	if got := Environment(image.ContainerConfig{}, Options{}, "h", "/"); got[0] != "PATH="+DefaultPath {
		t.Fatalf("default PATH: %v", got)
	}
}

func TestResolveUser(t *testing.T) {
	rootfs := t.TempDir()
	os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755)
	os.WriteFile(filepath.Join(rootfs, "etc", "passwd"), []byte("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:app:/home/app:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(rootfs, "etc", "group"), []byte("root:x:0:\nwheel:x:10:app\napp:x:1001:\n"), 0o644)
	cases := []struct {
		spec, want string
	}{
		{"", "0:0 [0] /root"},
		{"app", "1000:1001 [1001 10] /home/app"},
		{"1000", "1000:1001 [1001 10] /home/app"},
		{"app:root", "1000:0 [0 10] /home/app"},
		{"4242", "4242:0 [0] /"},
		{"4242:77", "4242:77 [77] /"},
		{"nobody", "error"},
		{"app:nogroup", "error"},
	}
	for _, c := range cases {
		u, home, err := ResolveUser(rootfs, c.spec)
		got := "error"
		if err == nil {
			got = fmt.Sprintf("%d:%d %v %s", u.UID, u.GID, u.AdditionalGids, home)
		}
		if got != c.want {
			t.Errorf("-u %q: %s, want %s", c.spec, got, c.want)
		}
	}
}

// TestLookPathStaysInTheImage: symlinks in the image resolve inside it, so a
// program the host has but the image lacks is not found.
func TestLookPathStaysInTheImage(t *testing.T) {
	rootfs := t.TempDir()
	os.MkdirAll(filepath.Join(rootfs, "bin"), 0o755)
	os.WriteFile(filepath.Join(rootfs, "bin", "tool"), []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(rootfs, "bin", "data"), []byte("x"), 0o644)
	os.Symlink("/bin/sh", filepath.Join(rootfs, "bin", "hostsh")) // the host has /bin/sh; the image does not
	os.Symlink("../../../../../bin/sh", filepath.Join(rootfs, "bin", "climb"))
	cases := map[string]int{"tool": 0, "/bin/tool": 0, "data": 126, "hostsh": 127, "climb": 127, "nope": 127, "/bin/nope": 127}
	for prog, want := range cases {
		err := LookPath(rootfs, "/", nil, prog, nil)
		got := 0
		var ee *ExecError
		if errors.As(err, &ee) {
			got = ee.Code
		} else if err != nil {
			got = -1
		}
		if got != want {
			t.Errorf("LookPath(%q) = %v (%d), want status %d", prog, err, got, want)
		}
	}
}
