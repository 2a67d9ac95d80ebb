package transfer

import (
	"context"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"

	"github.com/strata-dev/strata/internal/image"
	"github.com/strata-dev/strata/internal/store"
)

// Unpacker makes snapshots of layers as a pull stores them: each stack of
// layers, named by its chainID, on the stack below it.
type Unpacker interface {
	// Unpacked reports whether the stack chainID is unpacked already.
	Unpacked(ctx context.Context, chainID digest.Digest) bool
	// Stack starts unpacking the layers diffIDs, bottom first.
	Stack(ctx context.Context, diffIDs []digest.Digest) LayerStack
}

// LayerStack unpacks the layers of one image, each as soon as its blob is
// stored (side by side where the snapshots allow it), and commits them
// bottom up.
type LayerStack interface {
	// Unpacked reports whether layer i was unpacked when the stack began.
	Unpacked(i int) bool
	// Unpack unpacks layer i from the stored blob, checking its tar as the
	// store checks a layer it stores (its diffID must be diffID), and
	// returns the layer once it is committed. A layer waits for the one
	// below it: call it for each layer that is not Unpacked, or cancel ctx.
	Unpack(ctx context.Context, i int, blob image.Descriptor, diffID digest.Digest) (store.Layer, error)
}

// unpackLayers unpacks the layers of jobs to unpack, each once it is
// stored, and hands each one's facts to record, when set.
func (p *puller) unpackLayers(ctx context.Context, stack LayerStack, jobs []*layerJob, record func(*layerJob, store.Layer)) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, j := range jobs {
		if !j.unpack {
			continue
		}
		g.Go(func() error {
			select {
			case <-j.ready:
			case <-ctx.Done():
				return ctx.Err()
			}
			l, err := stack.Unpack(ctx, j.i, j.blob, j.diffID)
			if err != nil {
				return err
			}
			if record != nil {
				record(j, l)
			}
			if j.fetch {
				p.opts.Progress.send(j.desc.Digest, PullComplete, 0, 0)
			}
			return nil
		})
	}
	return g.Wait()
}
