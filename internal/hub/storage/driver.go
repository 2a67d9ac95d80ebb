// Package storage keeps the hub's blobs: each stored once for the whole hub
// behind a small Driver (the local filesystem now, object storage later),
// linked into repositories through package meta so that a repository only
// sees the blobs it references. It runs uploads (one writer at a time
// under a lease in meta, resumable across restarts, verified over the
// bytes actually committed, committed atomically), the online garbage
// collector, and the scrub that re-hashes what is stored.
//
// Package storagetest is the conformance suite every Driver runs.
package storage

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
)

// Driver stores blob content by digest and stages uploads' bytes. It knows
// nothing of repositories, of what is referenced, or of who may write an
// upload: that is meta's job (an upload's record, offset and one writer
// live there). A Driver must be safe for concurrent use, and errors for
// missing things wrap errdefs.ErrNotFound.
type Driver interface {
	// Stat returns the size of a blob.
	Stat(ctx context.Context, d digest.Digest) (int64, error)
	// Open returns a blob's content; its Seek lets the caller serve ranges.
	// The filesystem driver returns an *os.File, which net/http sends with sendfile.
	Open(ctx context.Context, d digest.Digest) (io.ReadSeekCloser, error)
	// Delete removes a blob; deleting a missing blob is not an error.
	Delete(ctx context.Context, d digest.Digest) error
	// Walk calls fn for every stored blob, in no particular order.
	Walk(ctx context.Context, fn func(d digest.Digest, size int64, modified time.Time) error) error

	// Stage opens upload id's data for appending at offset, creating it when
	// offset is 0 and truncating anything past offset (left by a crash
	// between a write and its recorded state). state is what Staged.State
	// said when offset was recorded (nil for a new upload): a driver may
	// keep its own bookkeeping there, in the upload's record in meta,
	// rather than in the store. No state for an offset past 0 is ErrNotFound
	// for a driver that needs one.
	Stage(ctx context.Context, id string, offset int64, state []byte) (Staged, error)
	// ReadStaged reads upload id's data, as state (see Stage) records it,
	// from the start. It returns the state to commit the data from: a
	// driver that must first put the data in one place to read it (object
	// storage completes its parts) says where it is now.
	ReadStaged(ctx context.Context, id string, state []byte) (io.ReadCloser, []byte, error)
	// RemoveUpload forgets upload id's data; removing a missing upload is not an error.
	RemoveUpload(ctx context.Context, id string) error
	// Uploads calls fn for every upload's data with its size and when it last changed.
	Uploads(ctx context.Context, fn func(id string, size int64, modified time.Time) error) error

	// MinChunk is the smallest chunk worth a PATCH (OCI-Chunk-Min-Length).
	MinChunk() int64
}

// Staged is an upload's data being appended to.
type Staged interface {
	io.Writer
	// Size is the data's length so far.
	Size() int64
	// State is what a later Stage of this upload needs besides the offset,
	// once Close returned nil: it describes Size bytes. nil for a driver
	// that keeps its own bookkeeping.
	State() []byte
	// Commit makes the data durable and visible as blob d, atomically:
	// nothing is visible under d until all of it is, and content already
	// under d is replaced (by the same bytes from another writer, or
	// healing content a scrub found damaged). The upload is gone after.
	Commit(ctx context.Context, d digest.Digest) error
	// Close releases the data, keeping it for a later Stage. After an
	// error, State does not describe what was written: the caller records
	// nothing, and the next writer starts from the state recorded before.
	Close() error
}

// ExactCommitter is a Driver whose Commit makes visible exactly the bytes
// described by the recorded states and the writes since, whatever a writer
// that lost its lease does meanwhile: object storage checks each part's
// SHA-256 against the list kept in the state, and never writes an object
// twice. A hash kept over those same writes is then the hash of what is
// committed, so the Store keeps one beside the state and checks a digest
// against it instead of reading the staged bytes back. A driver without
// that guarantee (the filesystem: a late writer may still write to the
// staged file) is read back.
type ExactCommitter interface {
	Driver
	// CommitsExactly only marks the guarantee.
	CommitsExactly()
}

var uploadIDPattern = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// CheckUploadID refuses an upload id a driver must not use as a name (a
// path separator, dots, nothing, too long): ids come from URLs.
func CheckUploadID(id string) error {
	if !uploadIDPattern.MatchString(id) {
		return fmt.Errorf("upload id %q: %w", id, errdefs.ErrInvalidArgument)
	}
	return nil
}

// CheckDigest refuses a digest a driver must not use as a name.
func CheckDigest(d digest.Digest) error {
	if err := d.Validate(); err != nil {
		return fmt.Errorf("digest %q: %v: %w", d, err, errdefs.ErrInvalidArgument)
	}
	return nil
}
