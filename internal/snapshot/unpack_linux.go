package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/archive"
	"github.com/strata-dev/strata/internal/errdefs"
)

// Unpack applies the layer tar r on top of the committed snapshot parent
// ("" for none) and commits the result as name, the layer stack's chainID.
// A half-applied layer is never committed. If another process committed name
// meanwhile, that snapshot stands and Unpack succeeds.
//
// With a LayerSnapshotter, the layer is written straight into its own
// snapshot, in overlay form, with no mount; the parent is looked at (through
// a view) only where the layer needs it. Otherwise it is applied on a
// writable snapshot of the parent, through a mount.
func Unpack(ctx context.Context, sn Snapshotter, name, parent string, r io.Reader) error {
	return unpack(ctx, sn, name, parent, r, nil)
}

// UnpackLayer is Unpack of a layer that must have the given diffID: read to
// its end, content of another digest fails the unpack, so a snapshot of the
// wrong content is never committed.
func UnpackLayer(ctx context.Context, sn Snapshotter, name, parent string, r io.Reader, diffID digest.Digest) error {
	v, err := newVerifier(r, diffID)
	if err != nil {
		return err
	}
	return Unpack(ctx, sn, name, parent, v)
}

// UnpackOnView is Unpack of a layer that layer makes from a look at the
// committed snapshot parent: a read-only view of it, mounted at the
// directory below ("" for no parent), which also serves the unpack where
// the layer needs it (see UnpackLayer), so that parent is mounted once. A
// nil layer makes no snapshot, and UnpackOnView returns false.
func UnpackOnView(ctx context.Context, sn Snapshotter, name, parent string, layer func(below string) (io.Reader, error)) (made bool, err error) {
	var view *mountedView
	if parent != "" {
		if view, err = mountView(ctx, sn, parent); err != nil {
			return false, err
		}
		defer func() { err = errors.Join(err, view.close(ctx)) }()
	}
	below := ""
	if view != nil {
		below = view.dir
	}
	r, err := layer(below)
	if err != nil || r == nil {
		return false, err
	}
	return true, unpackOn(ctx, sn, name, parent, r, nil, view)
}

// unpack is Unpack taking its turn in a Stack (none: parent is committed).
func unpack(ctx context.Context, sn Snapshotter, name, parent string, r io.Reader, t *turn) error {
	return unpackOn(ctx, sn, name, parent, r, t, nil)
}

// unpackOn is unpack with a view of parent mounted already, or nil.
func unpackOn(ctx context.Context, sn Snapshotter, name, parent string, r io.Reader, t *turn, view *mountedView) error {
	key := "unpack-" + randomID() + "-" + name
	ls, direct := sn.(LayerSnapshotter)
	var err error
	if direct {
		err = unpackDirect(ctx, ls, key, parent, r, t, view)
		if err == nil {
			err = ls.CommitOnto(ctx, name, key, parent)
		}
	} else {
		err = unpackMounted(ctx, sn, key, parent, r, t)
		if err == nil {
			err = sn.Commit(ctx, name, key)
		}
	}
	if err != nil {
		rerr := sn.Remove(context.WithoutCancel(ctx), key)
		if errdefs.IsNotFound(rerr) {
			rerr = nil // never made
		}
		if errdefs.IsAlreadyExists(err) {
			return rerr
		}
		return errors.Join(err, rerr)
	}
	return nil
}

// unpackDirect writes the layer into a snapshot of its own, then waits for
// its turn to be committed.
func unpackDirect(ctx context.Context, ls LayerSnapshotter, key, parent string, r io.Reader, t *turn, given *mountedView) error {
	if err := t.acquire(ctx); err != nil {
		return err
	}
	defer t.release()
	dir, err := ls.PrepareLayer(ctx, key)
	if err != nil {
		return err
	}
	var view *mountedView
	below := func() (string, error) {
		if err := t.waitBelow(ctx); err != nil || parent == "" {
			return "", err
		}
		if given != nil {
			return given.dir, nil
		}
		v, err := mountView(ctx, ls, parent)
		if err != nil {
			return "", err
		}
		view = v
		return v.dir, nil
	}
	err = archive.ApplyOverlay(ctx, dir, r, below)
	if view != nil {
		err = errors.Join(err, view.close(ctx))
	}
	t.release()
	if err != nil {
		return err
	}
	return t.waitBelow(ctx)
}

// unpackMounted applies the layer on a writable snapshot of its parent.
func unpackMounted(ctx context.Context, sn Snapshotter, key, parent string, r io.Reader, t *turn) error {
	if err := t.waitBelow(ctx); err != nil {
		return err
	}
	if err := t.acquire(ctx); err != nil {
		return err
	}
	defer t.release()
	mounts, err := sn.Prepare(ctx, key, parent, nil)
	if err != nil {
		return err
	}
	return WithTempMount(ctx, sn, mounts, func(root string) error { return archive.Apply(ctx, root, r) })
}

// mountedView is a read-only view of a committed snapshot, mounted.
type mountedView struct {
	sn  Snapshotter
	key string
	dir string
}

// mountView mounts a view of the committed snapshot name at a new directory.
func mountView(ctx context.Context, sn Snapshotter, name string) (*mountedView, error) {
	v := &mountedView{sn: sn, key: "view-" + randomID() + "-" + name}
	mounts, err := sn.View(ctx, v.key, name, nil)
	if err != nil {
		return nil, err
	}
	if v.dir, err = TempDir(sn, "view-"); err == nil {
		if err = MountPrivate(mounts, v.dir); err != nil {
			os.Remove(v.dir)
		}
	}
	if err != nil {
		sn.Remove(context.WithoutCancel(ctx), v.key)
		return nil, err
	}
	return v, nil
}

func (v *mountedView) close(ctx context.Context) error {
	err := Unmount(v.dir)
	if err == nil {
		err = os.Remove(v.dir)
	}
	return errors.Join(err, v.sn.Remove(context.WithoutCancel(ctx), v.key))
}

// verifier fails at the end of r when what was read is not digest want.
type verifier struct {
	r    io.Reader
	want digest.Digest
	d    digest.Digester
}

func newVerifier(r io.Reader, diffID digest.Digest) (*verifier, error) {
	if err := diffID.Validate(); err != nil {
		return nil, fmt.Errorf("layer diffID %q: %v: %w", diffID, err, errdefs.ErrInvalidArgument)
	}
	return &verifier{r: r, want: diffID, d: diffID.Algorithm().Digester()}, nil
}

func (v *verifier) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.d.Hash().Write(p[:n])
	if err == io.EOF && v.d.Digest() != v.want {
		return n, fmt.Errorf("layer content has digest %s, not its diffID %s: %w", v.d.Digest(), v.want, errdefs.ErrInvalidArgument)
	}
	return n, err
}
