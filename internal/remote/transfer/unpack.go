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

// unpackLayers unpacks the layers of stack that are not unpacked yet, each
// as soon as it is stored (ready[i] closed), and hands each one's facts to
// record, when set. shown says which layers get progress lines.
func (p *puller) unpackLayers(ctx context.Context, stack LayerStack, ready []chan struct{}, blobs []image.Descriptor,
	diffIDs []digest.Digest, record func(int, store.Layer), shown map[int]bool) error {
	g, ctx := errgroup.WithContext(ctx)
	for i := range diffIDs {
		if stack.Unpacked(i) {
			continue
		}
		g.Go(func() error {
			select {
			case <-ready[i]:
			case <-ctx.Done():
				return ctx.Err()
			}
			if shown[i] {
				p.opts.Progress.send(blobs[i].Digest, Extracting, 0, 0)
			}
			l, err := stack.Unpack(ctx, i, blobs[i], diffIDs[i])
			if err != nil {
				return err
			}
			if record != nil {
				record(i, l)
			}
			if shown[i] {
				p.opts.Progress.send(blobs[i].Digest, PullComplete, 0, 0)
			}
			return nil
		})
	}
	return g.Wait()
}
