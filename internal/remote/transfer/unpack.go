package transfer

import (
	"context"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/image"
)

// Unpacker makes snapshots of layers as a pull stores them: each stack of
// layers, named by its chainID, on the stack below it.
type Unpacker interface {
	// Unpacked reports whether the stack chainID is unpacked already.
	Unpacked(ctx context.Context, chainID digest.Digest) bool
	// Unpack applies the stored layer blob on the stack parent ("" for
	// none) and commits the result as the stack chainID, unless the blob's
	// uncompressed content is not diffID.
	Unpack(ctx context.Context, blob image.Descriptor, diffID, chainID, parent digest.Digest) error
}

// unpackInOrder unpacks the layers bottom up, each as soon as it is stored
// (ready[i] closed) and the one below it is unpacked, so unpacking overlaps
// the downloads still going on. shown says which layers get progress lines.
func (p *puller) unpackInOrder(ctx context.Context, ready []chan struct{}, blobs []image.Descriptor, diffIDs []digest.Digest, shown map[int]bool) error {
	chains := image.ChainIDs(diffIDs)
	for i := range chains {
		select {
		case <-ready[i]:
		case <-ctx.Done():
			return ctx.Err()
		}
		if p.opts.Unpacker.Unpacked(ctx, chains[i]) {
			if shown[i] {
				p.opts.Progress.send(blobs[i].Digest, PullComplete, 0, 0)
			}
			continue
		}
		var parent digest.Digest
		if i > 0 {
			parent = chains[i-1]
		}
		if shown[i] {
			p.opts.Progress.send(blobs[i].Digest, Extracting, 0, 0)
		}
		if err := p.opts.Unpacker.Unpack(ctx, blobs[i], diffIDs[i], chains[i], parent); err != nil {
			return err
		}
		if shown[i] {
			p.opts.Progress.send(blobs[i].Digest, PullComplete, 0, 0)
		}
	}
	return nil
}
