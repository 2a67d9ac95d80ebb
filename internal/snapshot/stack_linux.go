package snapshot

import (
	"context"
	"fmt"
	"io"
	"runtime"

	"github.com/opencontainers/go-digest"
)

// A Stack unpacks the layers of one stack (an image's), bottom first, each
// into the committed snapshot named by its chainID. Each layer unpacks as soon
// as its tar is at hand, beside the others where the snapshotter keeps layers
// apart (a LayerSnapshotter), else once the layer below is unpacked; either
// way a layer is committed only after the one below it. At most one layer per
// CPU is written at a time.
type Stack struct {
	sn    Snapshotter
	names []string
	done  []chan struct{} // closed once layer i is committed, or failed
	errs  []error         // why layer i failed, set before done[i] closes
	slots chan struct{}
}

// NewStack prepares to unpack the layers names (chainIDs, bottom first) with
// sn. Those already unpacked count as done.
func NewStack(ctx context.Context, sn Snapshotter, names []string) *Stack {
	s := &Stack{sn: sn, names: names, done: make([]chan struct{}, len(names)), errs: make([]error, len(names)),
		slots: make(chan struct{}, runtime.NumCPU())}
	for i, name := range names {
		s.done[i] = make(chan struct{})
		if _, err := sn.Stat(ctx, name); err == nil {
			close(s.done[i])
		}
	}
	return s
}

// Unpacked reports whether layer i was unpacked when the stack was made.
func (s *Stack) Unpacked(i int) bool {
	select {
	case <-s.done[i]:
		return s.errs[i] == nil
	default:
		return false
	}
}

// Unpack unpacks layer i from its tar r, which must have the given diffID,
// and returns once it is committed, or has failed (as it does when a layer
// below it fails). Call it at most once for each layer that is not
// Unpacked, from any goroutine; a layer waits for the one below it, so each
// below it must be unpacked too, or ctx canceled.
func (s *Stack) Unpack(ctx context.Context, i int, r io.Reader, diffID digest.Digest) (err error) {
	defer func() {
		s.errs[i] = err
		close(s.done[i])
	}()
	v, err := newVerifier(r, diffID)
	if err != nil {
		return err
	}
	t := &turn{slots: s.slots}
	parent := ""
	if i > 0 {
		parent, t.below, t.belowErr = s.names[i-1], s.done[i-1], &s.errs[i-1]
	}
	return unpack(ctx, s.sn, s.names[i], parent, v, t)
}

// turn is an unpack's place in a Stack: a share of the CPUs while it writes,
// and the layer below, which it waits for without holding that share.
type turn struct {
	slots    chan struct{}
	held     bool
	below    chan struct{} // closed once the layer below is done; nil for none
	belowErr *error
}

func (t *turn) acquire(ctx context.Context) error {
	if t == nil || t.held {
		return nil
	}
	select {
	case t.slots <- struct{}{}:
		t.held = true
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (t *turn) release() {
	if t != nil && t.held {
		<-t.slots
		t.held = false
	}
}

// waitBelow returns once the layer below is committed, giving up the share
// of the CPUs meanwhile.
func (t *turn) waitBelow(ctx context.Context) error {
	if t == nil || t.below == nil {
		return nil
	}
	held := false
	select {
	case <-t.below:
	default:
		held = t.held
		t.release()
		select {
		case <-t.below:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := *t.belowErr; err != nil {
		return fmt.Errorf("the layer below was not unpacked: %w", err)
	}
	if held {
		return t.acquire(ctx)
	}
	return nil
}
