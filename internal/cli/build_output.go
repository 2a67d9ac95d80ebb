package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/strata-dev/strata/internal/archive"
	"github.com/strata-dev/strata/internal/build"
	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/imagearchive"
	"github.com/strata-dev/strata/internal/store"
)

// buildOutput is one -o/--output: where the result goes, and how.
type buildOutput struct {
	typ, dest string
}

// parseOutputs reads -o values as docker buildx does: type=TYPE,dest=PATH,
// or a bare PATH for type=local ("-" for a tar on standard output).
func parseOutputs(values []string) ([]buildOutput, error) {
	var out []buildOutput
	for _, v := range values {
		o := buildOutput{}
		if !strings.Contains(v, "=") {
			o.typ, o.dest = "local", v
			if v == "-" {
				o.typ = "tar"
			}
		}
		for _, field := range strings.Split(v, ",") {
			k, val, ok := strings.Cut(field, "=")
			if !ok {
				continue
			}
			switch k {
			case "type":
				o.typ = val
			case "dest":
				o.dest = val
			default:
				return nil, fmt.Errorf("--output %s: strata takes type= and dest= (not %s): %w", v, k, errdefs.ErrInvalidArgument)
			}
		}
		switch o.typ {
		case "image", "registry":
			return nil, fmt.Errorf("--output type=%s: the image is stored anyway; use -t to name it and --push to push it: %w", o.typ, errdefs.ErrInvalidArgument)
		case "local", "tar", "oci", "docker":
		default:
			return nil, fmt.Errorf("--output %s: want type=local, tar, oci or docker: %w", v, errdefs.ErrInvalidArgument)
		}
		if o.dest == "" {
			return nil, fmt.Errorf("--output %s: name where it goes with dest=: %w", v, errdefs.ErrInvalidArgument)
		}
		out = append(out, o)
	}
	return out, nil
}

// writeOutputs writes the built image where -o says, the image ID where
// --iidfile says, and pushes its tags with --push.
func (a *app) writeOutputs(ctx context.Context, s *store.Store, f buildFlags, outs []buildOutput, res build.Result) error {
	if f.iidfile != "" {
		if err := os.WriteFile(f.iidfile, []byte(res.Image.ID.String()), 0o644); err != nil {
			return fmt.Errorf("--iidfile: %w", err)
		}
	}
	for _, o := range outs {
		if err := a.writeOutput(ctx, s, f, o, res.Image); err != nil {
			return fmt.Errorf("--output type=%s,dest=%s: %w", o.typ, o.dest, err)
		}
	}
	if f.push {
		if len(f.tags) == 0 {
			return fmt.Errorf("--push needs a name to push to: give -t REGISTRY/REPO:TAG: %w", errdefs.ErrInvalidArgument)
		}
		for _, t := range f.tags {
			if err := a.push(ctx, t, pushOptions{quiet: f.quiet}); err != nil {
				return err
			}
		}
	}
	return nil
}

func (a *app) writeOutput(ctx context.Context, s *store.Store, f buildFlags, o buildOutput, img store.Image) error {
	switch o.typ {
	case "oci", "docker":
		format := imagearchive.OCIArchive
		if o.typ == "docker" {
			format = imagearchive.DockerArchive
		}
		names := f.tags
		if len(names) == 0 {
			names = []string{img.ID.String()}
		}
		dest := o.dest
		if dest == "-" {
			dest = ""
		}
		return a.imageSave(ctx, names, format, dest)
	case "tar":
		w := a.Out
		if o.dest != "-" {
			fh, err := os.Create(o.dest)
			if err != nil {
				return err
			}
			defer fh.Close()
			w = fh
		}
		return build.ExportRootfs(ctx, s, a.getenv("STRATA_SNAPSHOTTER"), img, w)
	}
	if err := os.MkdirAll(o.dest, 0o755); err != nil {
		return err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(build.ExportRootfs(ctx, s, a.getenv("STRATA_SNAPSHOTTER"), img, pw)) }()
	err := archive.Apply(ctx, o.dest, pr)
	pr.CloseWithError(io.ErrClosedPipe)
	return err
}
