package cli

import (
	"context"
	"fmt"
	"os"
	goruntime "runtime"
	"strings"

	"github.com/docker/go-units"
	"github.com/spf13/pflag"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/image"
	"github.com/strata-dev/strata/internal/remote/transfer"
	"github.com/strata-dev/strata/internal/runtime"
	"github.com/strata-dev/strata/internal/runtime/container"
	"github.com/strata-dev/strata/internal/store"
)

// extraFlags are run's everyday flags beyond the basics.
type extraFlags struct {
	init, readOnly                   bool
	ulimits, devices, tmpfs          []string
	shmSize, cidfile, platform, pull string
}

func (f *extraFlags) add(fl *pflag.FlagSet) {
	fl.BoolVar(&f.init, "init", false, "run an init (tini) as PID 1 that forwards signals and reaps zombies")
	fl.BoolVar(&f.readOnly, "read-only", false, "mount the container's root file system read-only")
	fl.StringArrayVar(&f.ulimits, "ulimit", nil, "a resource limit: NAME=SOFT[:HARD], as nofile=1024:2048")
	fl.StringArrayVar(&f.devices, "device", nil, "give the container a host device: /dev/HOST[:/dev/CONTAINER[:rwm]]")
	fl.StringArrayVar(&f.tmpfs, "tmpfs", nil, "mount a tmpfs: PATH[:OPTIONS], as /run:size=64m")
	fl.StringVar(&f.shmSize, "shm-size", "", "the size of /dev/shm (default 64m)")
	fl.StringVar(&f.cidfile, "cidfile", "", "write the container's ID to this file")
	fl.StringVar(&f.platform, "platform", "", "pull this platform (os/arch[/variant]) if the image is missing")
	fl.StringVar(&f.pull, "pull", "missing", "pull the image: always, missing (when not in the store) or never")
}

// extras reads them into o.
func (f extraFlags) extras(o *runtime.Options) error {
	e := runtime.Extras{ReadOnly: f.readOnly, Ulimits: f.ulimits, Devices: f.devices}
	if f.init {
		p, err := runtime.InitPath()
		if err != nil {
			return err
		}
		e.Init = p
	}
	if f.shmSize != "" {
		n, err := units.RAMInBytes(f.shmSize)
		if err != nil || n <= 0 {
			return fmt.Errorf("--shm-size %q: want a size such as 64m: %w", f.shmSize, errdefs.ErrInvalidArgument)
		}
		e.ShmSize = n
	}
	for _, t := range f.tmpfs {
		p, opts, _ := strings.Cut(t, ":")
		if e.Tmpfs == nil {
			e.Tmpfs = map[string]string{}
		}
		e.Tmpfs[p] = opts
	}
	switch f.pull {
	case "", "always", "missing", "never": // "" is the default, missing
	default:
		return fmt.Errorf("--pull %q: want always, missing or never: %w", f.pull, errdefs.ErrInvalidArgument)
	}
	o.Extras = e
	return e.Check()
}

// image finds the image to run as --pull says, and warns as docker does
// when its platform is not the host's.
func (a *app) image(ctx context.Context, s *store.Store, f extraFlags, name string) (store.Image, error) {
	img, err := s.Resolve(ctx, name)
	switch {
	case f.pull == "never" && errdefs.IsNotFound(err):
		return img, fmt.Errorf("image %s is not in the store and --pull never: %w", name, err)
	case f.pull == "always" || errdefs.IsNotFound(err):
		if err == nil || f.pull != "always" {
			fmt.Fprintf(a.Err, "Unable to find image '%s' locally\n", name)
		}
		puller := *a // as docker run: the pull's progress on stderr, stdout left to the container
		puller.Out = a.Err
		if err := puller.pull(ctx, name, pullOptions{platform: f.platform, concurrency: transfer.DefaultConcurrentDownloads}); err != nil {
			return store.Image{}, err
		}
		img, err = s.Resolve(ctx, name)
	}
	if err != nil {
		return img, err
	}
	if b, err := s.Config(ctx, img); err == nil {
		if cfg, err := image.ParseConfig(b); err == nil && cfg.Architecture != "" && f.platform == "" &&
			(cfg.OS != goruntime.GOOS || cfg.Architecture != goruntime.GOARCH) {
			fmt.Fprintf(a.Err, "WARNING: The requested image's platform (%s/%s) does not match the detected host platform (%s/%s) and no specific platform was requested\n",
				cfg.OS, cfg.Architecture, goruntime.GOOS, goruntime.GOARCH)
		}
	}
	return img, nil
}

// writeCidfile writes the container's ID where --cidfile says, refusing a
// file that is there already, as docker does.
func writeCidfile(path string, c container.Container) error {
	if path == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("container ID file found, make sure the other container isn't running or delete %s: %w", path, err)
	}
	defer f.Close()
	_, err = f.WriteString(c.ID)
	return err
}
