package build

import (
	"fmt"
	"os"
	goruntime "runtime"
	"strings"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/image"
)

// binfmtDir is where the kernel lists the interpreters it runs foreign
// programs with.
const binfmtDir = "/proc/sys/fs/binfmt_misc"

// qemuArch names an architecture as qemu-user's binaries do.
var qemuArch = map[string]string{
	"amd64": "x86_64", "arm64": "aarch64", "arm": "arm", "ppc64le": "ppc64le", "s390x": "s390x",
	"riscv64": "riscv64", "mips64le": "mips64el", "loong64": "loongarch64",
}

// checkEmulation says whether this machine can run RUN steps of an image
// for p: its own architecture (or 386 on amd64, arm on arm64), or one
// binfmt_misc has a qemu-user interpreter registered for. Only RUN needs
// it: COPY, ADD and the rest work for any platform.
func checkEmulation(p image.Platform) error {
	host := goruntime.GOARCH
	if p.Architecture == "" || p.Architecture == host || host == "amd64" && p.Architecture == "386" || host == "arm64" && p.Architecture == "arm" {
		return nil
	}
	q, ok := qemuArch[p.Architecture]
	if !ok {
		return fmt.Errorf("RUN for %s: strata knows no emulator for it on this %s machine: %w", image.FormatPlatform(p), host, errdefs.ErrInvalidArgument)
	}
	b, err := os.ReadFile(binfmtDir + "/qemu-" + q)
	if err == nil && strings.HasPrefix(string(b), "enabled") {
		return nil
	}
	why := "binfmt_misc has no qemu-" + q + " interpreter registered"
	if _, err := os.Stat(binfmtDir + "/register"); err != nil {
		why = "binfmt_misc is not mounted (mount -t binfmt_misc binfmt_misc " + binfmtDir + ")"
	}
	return fmt.Errorf("RUN for %s on this %s machine needs emulation, and %s: install Debian's qemu-user-static (it registers its interpreters, with the F flag), or build for %s/%s: %w",
		image.FormatPlatform(p), host, why, goruntime.GOOS, host, errdefs.ErrInvalidArgument)
}
