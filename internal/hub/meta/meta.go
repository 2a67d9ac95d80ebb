// Package meta is the hub's metadata: repositories, the hub-wide record of
// each blob and its links into repositories, manifests, tags and referrers.
// Content lives elsewhere (package storage); meta knows what exists, where,
// and what refers to what. Store is the seam: SQLite implements it now
// (package meta/sqlite), PostgreSQL later, and package metatest is the
// conformance suite every implementation runs.
//
// Blob records carry a state so that uploads and online garbage collection
// can work at the same time, across processes and hub nodes, without locks
// outside the database:
//
//	absent ──LinkOrReserve──► pending ──Publish──► live ──CollectGarbage──► deleting ──Forget──► absent
//	                            ▲                   │
//	                            └──LinkOrReserve── quarantined ◄──Quarantine (a scrub found it damaged)
//
// A pending or deleting record is a Lease: it holds while its holder (a
// writer, a collector) renews it, and lapses seconds after the holder is
// gone, so a crash never leaves a digest stuck. Content is verified
// against its digest before it is committed, so two writers of one digest
// write the same bytes, and a writer may take over a pending record
// another holds: only its holder may publish it. Only the collector that
// holds a deleting record removes its content; a live blob with a link is
// never marked.
//
// Everything nodes must share lives here too, not in a process's memory
// or a data directory: uploads and their one writer, leases on background
// jobs, rate-limit counters, and what quotas count.
package meta

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
)

// Visibility says who may pull a repository: anyone (public), or only its
// owner and collaborators (private).
type Visibility string

const (
	Public  Visibility = "public"
	Private Visibility = "private"
)

// Repository is a named collection of manifests, tags and blob links.
// A repository made implicitly (by a push) belongs to the user its
// namespace (first path component) names, with that user's default
// visibility; with no such user it has no owner and is public.
type Repository struct {
	Name        string
	Owner       string // the namespace's owner (a user or an organization); "" none
	Visibility  Visibility
	Description string
	CreatedAt   time.Time
	// Pulls counts the manifests served from it (GET by tag or digest),
	// LastPulled is when the latest was; both recorded in batches (RecordPulls).
	Pulls      int64
	LastPulled time.Time
}

// BlobState is where a blob record is in its life; see the package doc.
type BlobState int

const (
	BlobAbsent BlobState = iota
	BlobPending
	BlobLive
	BlobDeleting
	// BlobQuarantined is content found damaged or missing: not served, its
	// links kept, healed by the next upload of the same digest.
	BlobQuarantined
)

func (s BlobState) String() string {
	return [...]string{"absent", "pending", "live", "deleting", "quarantined"}[s]
}

// Blob is the hub-wide record of one blob's content.
type Blob struct {
	Digest    digest.Digest
	Size      int64
	State     BlobState
	CreatedAt time.Time // when it entered its state
	Lease     Lease     // who writes (pending) or deletes (deleting) it
}

// Link is a blob as one repository sees it.
type Link struct {
	Digest    digest.Digest
	Size      int64
	TouchedAt time.Time // when linked, or last confirmed by a client
}

// Manifest is a manifest or index stored in a repository, with what it
// refers to (worked out by the caller from its content).
type Manifest struct {
	Digest       digest.Digest
	MediaType    string
	Content      []byte
	ArtifactType string            // for the referrers API: artifactType, else config mediaType
	Annotations  map[string]string // for the referrers API
	Subject      digest.Digest     // "" when it has none
	Blobs        []digest.Digest   // blobs that must be linked in the repository (an index's too: BuildKit's cache lists blobs)
	Children     []digest.Digest   // manifests (of an index) that must exist in the repository
	CreatedAt    time.Time
}

// Descriptor is an entry of a referrers list.
type Descriptor struct {
	MediaType    string
	Digest       digest.Digest
	Size         int64
	ArtifactType string
	Annotations  map[string]string
}

// MissingError lists what a manifest refers to that its repository lacks.
type MissingError struct {
	Blobs     []digest.Digest
	Manifests []digest.Digest
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("manifest refers to %d unknown blob(s) %v and %d unknown manifest(s) %v",
		len(e.Blobs), e.Blobs, len(e.Manifests), e.Manifests)
}

func (e *MissingError) Unwrap() error { return errdefs.ErrNotFound }

// Page selects part of a sorted list: entries after Last, at most N (N < 0: all).
type Page struct {
	Last string
	N    int
}

// Garbage is what a collection pass found or removed.
type Garbage struct {
	Links []LinkRef // unreferenced links older than the grace period
	Blobs []Blob    // blobs with no link left (marked deleting unless dry run)
}

// LinkRef names one link.
type LinkRef struct {
	Repository string
	Digest     digest.Digest
	Size       int64
}

// Store is the hub's metadata. Errors wrap errdefs classes: ErrNotFound for
// a missing repository, manifest, tag, link or upload; ErrConflict for a
// change the current state forbids (a blob still referenced, a lease
// another holds). Every method is one transaction: a concurrent caller
// sees all of its change or none. Times (now) are the caller's clock.
//
// Package metatest says what each method does, precisely, with cases every
// implementation must pass.
type Store interface {
	Close() error

	Catalog
	Accounts
	Shared
	Keys
	Audit
	Webhooks
	TagRules
	Orgs

	// Repository returns a repository by name.
	Repository(ctx context.Context, name string) (Repository, error)

	// Blob returns the hub-wide record of a blob (State BlobAbsent and ErrNotFound when none).
	Blob(ctx context.Context, d digest.Digest) (Blob, error)
	// Blobs lists live and quarantined blobs whose digest sorts after
	// `after` (byte order), at most n: what a scrub re-hashes.
	Blobs(ctx context.Context, after digest.Digest, n int) ([]Blob, error)
	// LinkBlob links a live blob into repo (creating repo if needed) and
	// returns BlobLive; for a blob in any other state it changes nothing and
	// returns that state. A link that would take repo's namespace over
	// quota bytes (quota > 0) is a *QuotaError, and changes nothing.
	LinkBlob(ctx context.Context, repo string, d digest.Digest, now time.Time, quota int64) (BlobState, error)
	// LinkOrReserve is LinkBlob for a live blob. A blob that is absent,
	// quarantined, pending (whoever held it, lapsed or not), or deleting
	// under a lease lapsed at now it records as pending, of size bytes,
	// under l, and returns BlobAbsent: the reservation is the caller's, to
	// commit content for and publish. A blob deleting under a lease that
	// holds it returns as BlobDeleting, changing nothing.
	LinkOrReserve(ctx context.Context, repo string, d digest.Digest, size int64, now time.Time, l Lease, quota int64) (BlobState, error)
	// RenewBlob extends the lease on a pending or deleting blob to l.Until;
	// ErrConflict when l.Holder does not hold it any more.
	RenewBlob(ctx context.Context, d digest.Digest, l Lease) error
	// PublishBlob makes a pending blob that holder holds live and links it
	// into repo; a blob already live it only links (another writer
	// published the same content). Anything else is ErrConflict. A
	// *QuotaError changes nothing. When upload is not "", that upload is
	// forgotten in the same transaction if holder writes it (its bytes are
	// blob d now); one another writer took over stays.
	PublishBlob(ctx context.Context, repo string, d digest.Digest, holder, upload string, now time.Time, quota int64) error
	// ReleaseBlob drops a pending record that holder holds (it committed no
	// content); a record in any other state or of another holder stays.
	ReleaseBlob(ctx context.Context, d digest.Digest, holder string) error
	// QuarantineBlob marks a live blob quarantined (its content is missing
	// or does not hash to its digest): it is served no more, its links and
	// the manifests using it stay. ErrNotFound unless it is live.
	QuarantineBlob(ctx context.Context, d digest.Digest, now time.Time) error
	// RepoBlob returns a live blob linked into repo.
	RepoBlob(ctx context.Context, repo string, d digest.Digest) (Link, error)
	// PublicHolder names a public repository linking live blob d, "" when none does.
	PublicHolder(ctx context.Context, d digest.Digest) (string, error)
	// TouchLink records that a client has just relied on a link.
	TouchLink(ctx context.Context, repo string, d digest.Digest, now time.Time) error
	// UnlinkBlob removes a link; ErrConflict while a manifest of repo refers to the blob.
	UnlinkBlob(ctx context.Context, repo string, d digest.Digest) error
	// NamespaceUsage is what quotas count for namespace ns (see Namespace):
	// the bytes of the distinct blobs linked into its repositories.
	NamespaceUsage(ctx context.Context, ns string) (int64, error)

	// PutManifest stores m in repo and points tags at it, in one transaction;
	// a *MissingError when m refers to blobs or manifests repo lacks.
	PutManifest(ctx context.Context, repo string, m Manifest, tags []string) error
	// Manifest returns a manifest by tag or digest.
	Manifest(ctx context.Context, repo, reference string) (Manifest, error)
	// DeleteManifest removes a manifest and every tag pointing at it; an
	// *InUseError (ErrConflict) while an index of repo names it or, with
	// untaggedOnly (retention's deletes), while a tag points at it.
	DeleteManifest(ctx context.Context, repo string, d digest.Digest, untaggedOnly bool) error
	// DeleteTag removes one tag; the manifest stays.
	DeleteTag(ctx context.Context, repo, tag string) error
	// Tags lists a repository's tags in byte order.
	Tags(ctx context.Context, repo string, p Page) (tags []string, more bool, err error)
	// Referrers lists manifests of repo whose subject is d, optionally only one artifactType.
	Referrers(ctx context.Context, repo string, d digest.Digest, artifactType string) ([]Descriptor, error)

	// FindGarbage reports, without changing anything, the links no manifest
	// refers to that were last touched before cutoff, and the live or
	// quarantined blobs that would then have no link and were created
	// before cutoff.
	FindGarbage(ctx context.Context, cutoff time.Time) (Garbage, error)
	// CollectGarbage removes those links and records those blobs as
	// deleting under l, in one transaction; it also takes pending blobs
	// whose lease lapsed at now (their writer is gone) and deleting blobs
	// whose lease lapsed (their collector is gone). It returns what it did:
	// the blobs are the caller's to delete while l holds, and no one
	// else's.
	CollectGarbage(ctx context.Context, now, cutoff time.Time, l Lease) (Garbage, error)
	// ClaimOrphan records content found without a record as deleting under
	// l, for the caller to delete; false when a record appeared meanwhile.
	ClaimOrphan(ctx context.Context, d digest.Digest, size int64, now time.Time, l Lease) (bool, error)
	// ForgetBlob removes the record of a blob holder holds as deleting, once
	// its content is gone; nothing when holder does not hold it.
	ForgetBlob(ctx context.Context, d digest.Digest, holder string) error
}

// Namespace is what a repository's quota is counted under: the first
// component of its name (the whole name when it has one component).
func Namespace(repo string) string {
	ns, _, _ := strings.Cut(repo, "/")
	return ns
}
