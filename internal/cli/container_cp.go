package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/internal/archive"
	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/runtime/container"
)

// splitCopyArg reads CONTAINER:PATH; a plain path (or "-") has no container.
func splitCopyArg(s string) (ctr, p string) {
	if strings.HasPrefix(s, "/") || strings.HasPrefix(s, ".") || !strings.Contains(s, ":") {
		return "", s
	}
	ctr, p, _ = strings.Cut(s, ":")
	return ctr, p
}

func (a *app) cpCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "cp CONTAINER:SRC_PATH DEST_PATH|-\n  strata cp SRC_PATH|- CONTAINER:DEST_PATH",
		Short: "Copy files between a container and the host",
		Long: `Copy a file or a directory out of a container or into it, as docker cp does:
into DEST when it is a directory, else as DEST. "-" is a tar on standard output
(out) or input (in). Paths in the container resolve as the container sees them,
symlinks included, and never lead out of it.`,
		Example: "  strata cp web:/etc/nginx/nginx.conf .\n  strata cp ./site web:/srv/www\n  strata cp web:/var/log - | tar -t",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			srcCtr, src := splitCopyArg(args[0])
			dstCtr, dst := splitCopyArg(args[1])
			if (srcCtr == "") == (dstCtr == "") {
				return fmt.Errorf("copying between containers or between host paths is not supported: name the container in one of the two: %w", errdefs.ErrInvalidArgument)
			}
			ctx := cmd.Context()
			return a.withContainers(ctx, func(m *container.Manager) error {
				if srcCtr != "" {
					return a.copyOut(cmd, m, srcCtr, src, dst)
				}
				return m.CopyIn(ctx, dstCtr, dst, nil, func(intoDir bool, base string) io.Reader {
					if src == "-" {
						return a.In
					}
					name := base
					if intoDir {
						name = filepath.Base(src)
					}
					abs, _ := filepath.Abs(src)
					pr, pw := io.Pipe()
					go func() { pw.CloseWithError(archive.WriteTree(ctx, pw, filepath.Dir(abs), filepath.Base(abs), name)) }()
					return pr
				})
			})
		},
	}
}

// copyOut copies the container's src to the host's dst ("-": a tar on stdout).
func (a *app) copyOut(cmd *cobra.Command, m *container.Manager, ctr, src, dst string) error {
	ctx := cmd.Context()
	if dst == "-" {
		return m.CopyOut(ctx, ctr, src, ".", a.Out)
	}
	dir, name := filepath.Dir(dst), filepath.Base(dst)
	if st, err := os.Stat(dst); err == nil && st.IsDir() {
		dir, name = dst, "."
		if strings.HasSuffix(src, "/.") {
			name = ""
		}
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(m.CopyOut(ctx, ctr, src, name, pw)) }()
	err := archive.ApplyFiles(ctx, dir, pr)
	pr.CloseWithError(err)
	return err
}
