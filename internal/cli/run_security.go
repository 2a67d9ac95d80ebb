package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/docker/go-units"
	"github.com/spf13/pflag"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/runtime"
)

const privilegedWarning = "WARNING: --privileged: this container gets every capability and every host device, " +
	"no seccomp profile, and unmasked /proc and /sys: it can take over the host. Use --cap-add for the one thing it needs."

// securityFlags are run's flags for what a container may do, and its limits.
func (f *runFlags) securityFlags(fl *pflag.FlagSet) {
	fl.BoolVar(&f.privileged, "privileged", false, "give the container every capability and device, no seccomp: full control of the host")
	fl.StringArrayVar(&f.capAdd, "cap-add", nil, "add a Linux capability (NET_ADMIN, SYS_PTRACE, ... or ALL)")
	fl.StringArrayVar(&f.capDrop, "cap-drop", nil, "drop a Linux capability (NET_RAW, ... or ALL)")
	fl.StringArrayVar(&f.securityOpts, "security-opt", nil,
		"seccomp=unconfined, seccomp=PROFILE.json (Docker's format) or no-new-privileges")
	fl.StringVarP(&f.memory, "memory", "m", "", "memory limit: 512m, 2g, ... (as much swap again, as docker)")
	fl.Float64Var(&f.cpus, "cpus", 0, "how many CPUs the container may use: 0.5, 2, ...")
	fl.Int64Var(&f.pidsLimit, "pids-limit", 0, fmt.Sprintf("how many processes it may have (default %d; -1 for no limit)", runtime.DefaultPidsLimit))
}

// security reads the security and limit flags into o.
func (f runFlags) security(o *runtime.Options) error {
	s := runtime.Security{Privileged: f.privileged, CapAdd: f.capAdd, CapDrop: f.capDrop}
	for _, opt := range f.securityOpts {
		k, v, _ := strings.Cut(opt, "=")
		if !strings.Contains(opt, "=") {
			k, v, _ = strings.Cut(opt, ":")
		}
		switch {
		case k == "no-new-privileges" && (v == "" || v == "true"):
			s.NoNewPrivileges = true
		case k == "no-new-privileges" && v == "false":
			s.NoNewPrivileges = false
		case k == "seccomp" && v == "unconfined":
			s.Seccomp = v
		case k == "seccomp" && v != "":
			b, err := os.ReadFile(v)
			if err != nil {
				return fmt.Errorf("--security-opt seccomp: %w", err)
			}
			s.Seccomp = string(b)
		case (k == "label" || k == "apparmor") && v != "":
			// SELinux and AppArmor are not used here: as docker on such a host.
		default:
			return fmt.Errorf("--security-opt %q: want seccomp=unconfined, seccomp=PROFILE.json or no-new-privileges: %w", opt, errdefs.ErrInvalidArgument)
		}
	}
	if err := s.Check(); err != nil {
		return err
	}
	r := runtime.Resources{CPUs: f.cpus, PidsLimit: f.pidsLimit}
	if f.memory != "" {
		n, err := parseMemory(f.memory)
		if err != nil {
			return err
		}
		r.Memory = n
	}
	if err := r.Check(); err != nil {
		return err
	}
	o.Security, o.Resources = s, r
	return nil
}

// parseMemory reads --memory as docker does: 512m, 2g, or bytes.
func parseMemory(s string) (int64, error) {
	n, err := units.RAMInBytes(s)
	if err != nil {
		return 0, fmt.Errorf("--memory %q: %v: %w", s, err, errdefs.ErrInvalidArgument)
	}
	return n, nil
}
