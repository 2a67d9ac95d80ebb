// Package content defines strata's content-addressed store: blobs (layers,
// configs, manifests) named by their digest, each kept once, written through
// verified and resumable ingests.
//
// The interfaces are small roles, after containerd's core/content: a caller
// that only reads takes a Provider, one that only writes an Ingester. Every
// implementation must pass the conformance suite in package contenttest.
//
// The contract every implementation keeps:
//   - A blob is visible only once it is complete and verified: its size and
//     digest were checked while it streamed in, and it was made durable before
//     it was published. A crash or an interrupted write leaves no visible blob.
//   - An ingest is named by a ref chosen by the caller. Closing a Writer
//     without committing keeps what was written; opening a Writer with the same
//     ref later resumes at Status().Offset. Only one Writer holds a ref at a
//     time, across processes: a second one gets errdefs.ErrUnavailable.
//   - Committing content that is already stored gives errdefs.ErrAlreadyExists
//     and leaves the stored blob as it was; committing content whose size or
//     digest is not the expected one gives errdefs.ErrInvalidArgument and
//     discards the ingest.
package content

import (
	"context"
	"io"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Info describes a stored blob.
type Info struct {
	Digest    digest.Digest
	Size      int64
	CreatedAt time.Time
}

// Status describes an ingest in progress.
type Status struct {
	Ref       string
	Offset    int64         // bytes written so far
	Total     int64         // expected size, 0 when unknown
	Expected  digest.Digest // expected digest, "" when unknown
	StartedAt time.Time
	UpdatedAt time.Time
}

// ReaderAt reads a stored blob at any offset.
type ReaderAt interface {
	io.ReaderAt
	io.Closer
	Size() int64
}

// Provider gives read access to stored blobs.
type Provider interface {
	// ReaderAt opens the blob desc.Digest; errdefs.ErrNotFound when absent.
	ReaderAt(ctx context.Context, desc ocispec.Descriptor) (ReaderAt, error)
}

// Ingester starts or resumes writes.
type Ingester interface {
	// Writer opens the ingest named ref, resuming it when it exists. desc
	// carries what is expected (Digest and Size, either may be zero); when
	// desc.Digest is already stored it returns errdefs.ErrAlreadyExists.
	Writer(ctx context.Context, ref string, desc ocispec.Descriptor) (Writer, error)
}

// Writer streams one blob into the store.
type Writer interface {
	// Write appends to the ingest. Writing past an expected size fails.
	io.Writer
	// Close releases the ref without committing; the ingest stays for resuming.
	io.Closer
	// Digest is the digest of what was written so far.
	Digest() digest.Digest
	// Commit verifies the ingest against size (when > 0) and expected (when
	// not empty), as well as against what Writer was opened with, makes it
	// durable and publishes it under its digest. The Writer is closed after.
	Commit(ctx context.Context, size int64, expected digest.Digest) error
	// Status reports the ingest's progress.
	Status() (Status, error)
	// Truncate discards what was written past size; only 0 is required to work.
	Truncate(size int64) error
}

// WalkFunc is called for each stored blob; returning an error stops the walk.
type WalkFunc func(Info) error

// Manager looks at and removes stored blobs.
type Manager interface {
	// Info describes the blob dgst; errdefs.ErrNotFound when absent.
	Info(ctx context.Context, dgst digest.Digest) (Info, error)
	// Walk calls fn for every stored blob, in no particular order.
	Walk(ctx context.Context, fn WalkFunc) error
	// Delete removes the blob dgst; errdefs.ErrNotFound when absent.
	Delete(ctx context.Context, dgst digest.Digest) error
}

// IngestManager looks at and cancels ingests in progress.
type IngestManager interface {
	// Status reports the ingest ref; errdefs.ErrNotFound when there is none.
	Status(ctx context.Context, ref string) (Status, error)
	// ListStatuses reports every ingest in progress.
	ListStatuses(ctx context.Context) ([]Status, error)
	// Abort discards the ingest ref; errdefs.ErrNotFound when there is none.
	Abort(ctx context.Context, ref string) error
}

// Store is a whole content store.
type Store interface {
	Provider
	Ingester
	Manager
	IngestManager
}
