package build

import (
	"context"
	"fmt"
	"io"

	"github.com/strata-dev/strata/internal/archive"
	"github.com/strata-dev/strata/internal/errdefs"
)

// ExtractContext unpacks a build context tar (plain or compressed) into
// dir, every entry checked to land inside it.
func ExtractContext(ctx context.Context, r io.Reader, dir string) error {
	dr, err := decompressed(r)
	if err != nil {
		return fmt.Errorf("build context on standard input: %w", err)
	}
	if err := archive.Apply(ctx, dir, dr); err != nil {
		return fmt.Errorf("build context on standard input: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	return nil
}
