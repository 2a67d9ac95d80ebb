package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/strata-dev/strata/internal/testutil"
)

// binfmtDir is where the kernel's binfmt_misc is mounted.
const binfmtDir = "/proc/sys/fs/binfmt_misc"

// registerQemu makes sure binfmt_misc runs arm64 programs with Debian's
// qemu-aarch64-static. This is host-wide state: the test mounts binfmt_misc
// if it is not, registers only the aarch64 interpreter, with the F flag
// (the kernel opens the interpreter now, so a container's root need not
// have it), and undoes both when it ends; an interpreter registered before
// is used as it is. It skips where the kernel refuses.
func registerQemu(t *testing.T) {
	t.Helper()
	testutil.RequireRoot(t)
	qemu := testutil.Tool(t, "qemu-aarch64-static")
	if _, err := os.Stat(binfmtDir + "/register"); err != nil {
		if err := unix.Mount("binfmt_misc", binfmtDir, "binfmt_misc", 0, ""); err != nil {
			t.Skipf("binfmt_misc cannot be mounted here (%v): foreign RUN steps cannot be emulated", err)
		}
		t.Cleanup(func() { unix.Unmount(binfmtDir, 0) })
	}
	if _, err := os.Stat(binfmtDir + "/qemu-aarch64"); err == nil {
		return
	}
	// The ELF header of an arm64 executable, and which of its bytes count.
	const magic = `\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00`
	const mask = `\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff`
	rule := ":qemu-aarch64:M::" + magic + ":" + mask + ":" + qemu + ":F"
	if err := os.WriteFile(binfmtDir+"/register", []byte(rule), 0o200); err != nil {
		t.Skipf("binfmt_misc refuses to register qemu-aarch64 here (%v): foreign RUN steps cannot be emulated", err)
	}
	t.Cleanup(func() { os.WriteFile(binfmtDir+"/qemu-aarch64", []byte("-1"), 0o200) })
}

// TestBuildForeignRun: a RUN step of a linux/arm64 image runs on this
// amd64 machine under qemu-user through binfmt_misc. The image holds one
// program, built for arm64 by the test, which writes what it runs on.
func TestBuildForeignRun(t *testing.T) {
	root := busyboxRoot(t, "")
	registerQemu(t)
	src := writeContext(t, map[string]string{"go.mod": "module hello\n\ngo 1.22\n", "main.go": `package main

import (
	"os"
	"runtime"
)

func main() { os.WriteFile("/out.txt", []byte("hello from "+runtime.GOARCH+"\n"), 0o644) }
`})
	rootfs := t.TempDir()
	cmd := exec.Command(testutil.Tool(t, "go"), "build", "-o", filepath.Join(rootfs, "hello"), ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build for arm64: %v\n%s", err, out)
	}
	mustStrata(t, root, "import", "--platform", "linux/arm64", rootfs, "hello:arm64")
	ctx := writeContext(t, map[string]string{"Dockerfile": "FROM hello:arm64\nRUN [\"/hello\"]\n"})
	out := filepath.Join(t.TempDir(), "out")
	mustBuild(t, root, "--platform", "linux/arm64", "-o", "type=local,dest="+out, ctx)
	if b, err := os.ReadFile(filepath.Join(out, "out.txt")); err != nil || strings.TrimSpace(string(b)) != "hello from arm64" {
		t.Errorf("the arm64 step wrote %q (%v)", b, err)
	}
}
