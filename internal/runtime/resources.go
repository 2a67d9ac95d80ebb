package runtime

import (
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/strata-dev/strata/internal/errdefs"
)

// DefaultPidsLimit is how many processes a container may have when it is
// not told, as podman's default: a fork bomb stops there.
const DefaultPidsLimit = 2048

// Resources are a container's limits, which runc enforces through cgroups.
type Resources struct {
	Memory    int64   `json:",omitempty"` // --memory, bytes; 0 for none
	CPUs      float64 `json:",omitempty"` // --cpus; 0 for no limit
	PidsLimit int64   `json:",omitempty"` // --pids-limit: 0 for the default, -1 for none
}

const cpuPeriod = 100000 // microseconds, as Docker's --cpus

// Check refuses limits that cannot be met.
func (r Resources) Check() error {
	switch {
	case r.Memory < 0 || (r.Memory > 0 && r.Memory < 6*1024*1024):
		return fmt.Errorf("--memory: the minimum allowed is 6MB: %w", errdefs.ErrInvalidArgument)
	case r.CPUs < 0:
		return fmt.Errorf("--cpus: must not be negative: %w", errdefs.ErrInvalidArgument)
	case r.PidsLimit < -1:
		return fmt.Errorf("--pids-limit: want a number of processes, or -1 for no limit: %w", errdefs.ErrInvalidArgument)
	}
	return nil
}

// apply writes the limits into the spec's cgroup resources.
func (r Resources) apply(res *specs.LinuxResources) {
	if r.Memory > 0 {
		limit := r.Memory
		res.Memory = &specs.LinuxMemory{Limit: &limit}
		if swapAccounted() { // as Docker: as much swap again as memory
			swap := 2 * r.Memory
			res.Memory.Swap = &swap
		}
	}
	if r.CPUs > 0 {
		quota, period := int64(r.CPUs*cpuPeriod), uint64(cpuPeriod)
		res.CPU = &specs.LinuxCPU{Quota: &quota, Period: &period}
	}
	pids := r.PidsLimit
	switch pids {
	case 0:
		pids = DefaultPidsLimit
	case -1:
		pids = 0 // runc: no limit
	}
	if pids > 0 {
		res.Pids = &specs.LinuxPids{Limit: &pids}
	}
}

// swapAccounted reports whether the host's cgroups can limit swap (v1:
// memory.memsw; v2 always can).
func swapAccounted() bool {
	for _, p := range []string{"/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes", "/sys/fs/cgroup/cgroup.controllers"} {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}

// Update is every limit as `runc update` takes it, for a running container:
// none is left out, and -1 lifts one that was set.
func (r Resources) Update() specs.LinuxResources {
	var res specs.LinuxResources
	memory, swap := int64(-1), int64(-1)
	if r.Memory > 0 {
		memory, swap = r.Memory, 2*r.Memory
	}
	res.Memory = &specs.LinuxMemory{Limit: &memory}
	if swapAccounted() {
		res.Memory.Swap = &swap
	}
	quota, period := int64(-1), uint64(cpuPeriod)
	if r.CPUs > 0 {
		quota = int64(r.CPUs * cpuPeriod)
	}
	res.CPU = &specs.LinuxCPU{Quota: &quota, Period: &period}
	pids := r.PidsLimit
	if pids == 0 {
		pids = DefaultPidsLimit
	}
	res.Pids = &specs.LinuxPids{Limit: &pids}
	return res
}
