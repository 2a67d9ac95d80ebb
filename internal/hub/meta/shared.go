package meta

import (
	"context"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
)

// Lease is a claim on a record that lapses at Until unless its holder
// renews it: a blob being written or deleted, an upload being written, a
// background job. A holder is a string no other writer uses (a random id),
// so a claim taken over by someone else is never mistaken for one's own.
type Lease struct {
	Holder string
	Until  time.Time
}

// Held reports whether the lease still holds at now.
func (l Lease) Held(now time.Time) bool { return l.Holder != "" && now.Before(l.Until) }

// Upload is an upload session: the bytes a client sends in one request
// or several, staged (by package storage) until it names their digest.
type Upload struct {
	ID    string
	Repo  string
	Owner string // whom it counts against (a user, or a client address)
	// Offset is how many bytes were received and recorded; staged bytes
	// past it (a write a crash interrupted) are not part of the upload.
	Offset    int64
	StartedAt time.Time
	UpdatedAt time.Time
	Lease     Lease // its one writer now; Holder "" when none
	// State is what the storage keeps of the upload beside its offset (the
	// hash of the bytes so far, where the driver put them), opaque here:
	// recorded with the offset, by its writer only, so that the two never
	// disagree and a node may continue another's upload.
	State []byte
}

// RateKey is one counter of attempts: Burst at once, then one per Every.
type RateKey struct {
	Key   string
	Burst int
	Every time.Duration
}

// Shared is the state hub nodes share besides content's metadata: uploads
// and their one writer at a time, leases on background jobs, rate limits,
// and where users signed in from.
type Shared interface {
	// CreateUpload records u. With limit > 0 it is refused with a
	// *LimitError, changing nothing, when u.Owner already has limit uploads
	// updated at or after activeSince.
	CreateUpload(ctx context.Context, u Upload, limit int, activeSince time.Time) error
	// Upload returns upload id of repo (repo "": of any repository);
	// ErrNotFound when there is none in repo.
	Upload(ctx context.Context, repo, id string) (Upload, error)
	// LeaseUpload makes l.Holder the upload's one writer: it takes an
	// upload no lease holds at now, or renews l.Holder's own (to l.Until),
	// and returns the upload; ErrConflict while another holder's lease
	// holds, ErrNotFound when there is no such upload in repo.
	LeaseUpload(ctx context.Context, repo, id string, now time.Time, l Lease) (Upload, error)
	// UpdateUpload records offset and state (and now as UpdatedAt) for an
	// upload holder writes, and ends holder's lease: a request records what
	// it added as it finishes. ErrConflict when holder is not its writer
	// any more.
	UpdateUpload(ctx context.Context, id, holder string, offset int64, state []byte, now time.Time) error
	// ReleaseUpload ends holder's lease on an upload; nothing when another holds it.
	ReleaseUpload(ctx context.Context, id, holder string) error
	// DeleteUpload forgets an upload holder writes; ErrConflict when holder
	// is not its writer, ErrNotFound when it is gone.
	DeleteUpload(ctx context.Context, id, holder string) error
	// ReapUploads forgets the uploads last updated before `before` that no
	// lease holds at now, and returns them (their staged bytes are the
	// caller's to remove).
	ReapUploads(ctx context.Context, before, now time.Time) ([]Upload, error)

	// AcquireLease takes the lease called name for l.Holder when no lease
	// holds it at now, or renews l.Holder's own; ErrConflict while another
	// holder's lease holds.
	AcquireLease(ctx context.Context, name string, now time.Time, l Lease) error
	// ReleaseLease gives up holder's lease called name; nothing when another holds it.
	ReleaseLease(ctx context.Context, name, holder string) error

	// Reserve takes one attempt from every key at now, all or none: when
	// any key has none left, it takes nothing and returns how long until
	// every key has one again (> 0).
	Reserve(ctx context.Context, now time.Time, keys ...RateKey) (time.Duration, error)
	// Refund gives back an attempt Reserve took (a sign-in that succeeded).
	Refund(ctx context.Context, now time.Time, keys ...RateKey) error
	// RememberAddress records that user signed in from addr, until until.
	RememberAddress(ctx context.Context, user, addr string, until time.Time) error
	// KnownAddress reports whether user signed in from addr and that is
	// remembered at now. Deleting a user forgets their addresses.
	KnownAddress(ctx context.Context, user, addr string, now time.Time) (bool, error)
}

// QuotaError is a change that would take a namespace's stored bytes over
// its quota.
type QuotaError struct {
	Namespace           string
	Used, Adding, Quota int64
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("namespace %s stores %d bytes; %d more would pass its quota of %d bytes",
		e.Namespace, e.Used, e.Adding, e.Quota)
}

func (e *QuotaError) Unwrap() error { return errdefs.ErrForbidden }

// LimitError is something an owner may have only so many of at once.
type LimitError struct {
	What  string // "uploads"
	Owner string
	Limit int
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%s has %d %s in progress, the most allowed at once", e.Owner, e.Limit, e.What)
}

func (e *LimitError) Unwrap() error { return errdefs.ErrUnavailable }

// InUseError is a manifest an index of its repository still names, or
// (for a delete of untagged manifests only) one a tag points at.
type InUseError struct {
	Manifest, Index digest.Digest
	Tag             string
}

func (e *InUseError) Error() string {
	if e.Tag != "" {
		return fmt.Sprintf("manifest %s is tagged %s: it is no longer untagged", e.Manifest, e.Tag)
	}
	return fmt.Sprintf("manifest %s is named by index %s in this repository: delete the index first", e.Manifest, e.Index)
}

func (e *InUseError) Unwrap() error { return errdefs.ErrConflict }
