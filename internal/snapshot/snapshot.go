// Package snapshot keeps unpacked layers and containers' writable layers as
// snapshots, in the spirit of containerd's core/snapshots.
//
// A committed snapshot is an unpacked stack of layers, named by its chainID,
// so a base layer is unpacked once for every image and container that uses
// it. An active snapshot is a writable layer on top of a committed parent: a
// layer being unpacked, or a container's file system. A view is a read-only
// look at a committed snapshot. Snapshots are used through mounts: Prepare,
// View and Mounts return what to mount to see the snapshot's files.
//
// Two implementations keep this contract, and the conformance suite in
// package snapshottest checks both: overlay (the kernel's overlayfs, where an
// active snapshot holds only what changed, used wherever overlayfs works) and
// native (each active snapshot a full copy of its parent, for when overlayfs
// does not work, at the cost of disk and time). Overlay is also a
// LayerSnapshotter: a layer is unpacked straight into a snapshot of its own,
// unmounted, before the layers below it are there, which is how Stack
// unpacks an image's layers side by side.
//
// On-disk layout, the same for both under each implementation's root:
//
//	lock             flock, exclusive while the index changes
//	ids/             marked chattr +T: each snapshot is the top of a tree
//	ids/ID/info.json what the snapshot is: name, kind, parent, labels
//	ids/ID/fs/       its files: overlay's upper dir, or native's whole tree
//	ids/ID/work/     overlay's work dir (active snapshots)
//	names/HASH       symlink to ../ids/ID; HASH is the sha256 of the name
//
// IDs are short so that an overlay mount of many layers fits in one page of
// mount options.
package snapshot

import (
	"context"
	"time"
)

// Kind is what a snapshot is for.
type Kind int

const (
	KindView      Kind = iota + 1 // read-only, on a committed parent
	KindActive                    // writable, becomes committed by Commit
	KindCommitted                 // immutable, a parent for others
)

func (k Kind) String() string {
	switch k {
	case KindView:
		return "view"
	case KindActive:
		return "active"
	case KindCommitted:
		return "committed"
	}
	return "unknown"
}

// Info describes a snapshot.
type Info struct {
	Name    string // the key of an active snapshot or view, the name of a committed one
	Parent  string // the committed snapshot it sits on, "" for none
	Kind    Kind
	Created time.Time
	Labels  map[string]string
}

// Usage is the disk a snapshot's own files take: for overlay, what its layer
// changed; for native, its whole copy. Hard-linked files count once.
type Usage struct {
	Size   int64 // bytes of allocated blocks
	Inodes int64
}

// Snapshotter keeps snapshots. Every method is safe for concurrent use by
// goroutines and by processes sharing the root. Errors are classed with
// errdefs: a missing key is ErrNotFound, a key or name in use is
// ErrAlreadyExists, a parent that is not committed is ErrInvalidArgument,
// removing a snapshot that others sit on is ErrConflict.
type Snapshotter interface {
	// Stat describes the snapshot key.
	Stat(ctx context.Context, key string) (Info, error)
	// Prepare makes an active snapshot key on parent ("" for an empty one)
	// and returns its mounts.
	Prepare(ctx context.Context, key, parent string, labels map[string]string) ([]Mount, error)
	// View makes a read-only snapshot key of parent and returns its mounts.
	View(ctx context.Context, key, parent string, labels map[string]string) ([]Mount, error)
	// Mounts returns the mounts of an active snapshot or view.
	Mounts(ctx context.Context, key string) ([]Mount, error)
	// Commit turns the active snapshot key into the committed snapshot
	// name. key must not be mounted for writing any more.
	Commit(ctx context.Context, name, key string) error
	// Remove deletes a snapshot that no other snapshot sits on. It must not
	// be mounted.
	Remove(ctx context.Context, key string) error
	// Usage measures the disk that the snapshot's own files take.
	Usage(ctx context.Context, key string) (Usage, error)
	// Walk calls fn for every snapshot, in no particular order.
	Walk(ctx context.Context, fn func(Info) error) error
	// Name is the implementation's name: "overlay" or "native".
	Name() string
	// Root is the directory the snapshots live in, which only root enters.
	Root() string
}

// LabelVolatile, set (to any value) on an active snapshot when it is
// prepared, says that its files are copied out before it is thrown away or
// committed as they are: a build step's writable layer. Its overlay is then mounted
// "volatile", so that unmounting it does not sync the whole file system the
// snapshots are on, as overlayfs otherwise does on every unmount of a
// writable overlay (tens of milliseconds, seconds on a busy disk). A crash
// may leave its files half written, which does not matter for a snapshot
// nobody keeps, and no more than for a layer just unpacked (snapshots are
// not synced) when it is committed after all; committed, it is a snapshot
// as any other.
const LabelVolatile = "strata.volatile"

// Mount is one mount(2) call, as containerd's mount.Mount.
type Mount struct {
	Type    string   // "overlay" or "bind"
	Source  string   // the device or directory
	Options []string // "ro", "rbind", "lowerdir=..."
}

// A LayerSnapshotter keeps the own files of each committed snapshot apart, as
// one layer in overlay form (what archive.ApplyOverlay writes), so that a
// layer can be unpacked into a snapshot of its own before the layers below it
// are there, and be put on them when it is committed (containerd calls this
// a rebase). Unpack and Stack use it where a snapshotter has it: overlay does;
// native, whose snapshots are whole copies of their parents, does not.
type LayerSnapshotter interface {
	Snapshotter
	// PrepareLayer makes the active snapshot key, on no parent yet, and
	// returns the directory to write its layer into, unmounted.
	PrepareLayer(ctx context.Context, key string) (dir string, err error)
	// CommitOnto commits the active snapshot key as name on the committed
	// snapshot parent ("" for none): one made by PrepareLayer, or one
	// prepared on another parent and no longer mounted, whose own files
	// the caller knows to be the layer it wants on parent (a build step's,
	// whose layer was made from them), which is then committed without
	// being copied.
	CommitOnto(ctx context.Context, name, key, parent string) error
}
