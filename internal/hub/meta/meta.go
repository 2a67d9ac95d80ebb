// Package meta is the hub's metadata: repositories, the hub-wide record of
// each blob and its links into repositories, manifests, tags and referrers.
// Content lives elsewhere (package storage); meta knows what exists, where,
// and what refers to what. Store is the seam: SQLite implements it now
// (package meta/sqlite), PostgreSQL later, and package metatest is the
// conformance suite every implementation runs.
//
// Blob records carry a state so that uploads and online garbage collection
// can work at the same time, across processes, without locks outside the
// database:
//
//	absent ──LinkOrReserve──► pending ──Publish──► live ──MarkGarbage──► deleting ──Forget──► absent
//
// Only the caller that reserved a blob writes its content; only the
// collector that marked it deleting removes its content; a live blob with a
// link is never marked.
package meta

import (
	"context"
	"fmt"
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
	Owner       string // the namespace's owner (a user now, an organization later); "" none
	Visibility  Visibility
	Description string
	CreatedAt   time.Time
}

// BlobState is where a blob record is in its life; see the package doc.
type BlobState int

const (
	BlobAbsent BlobState = iota
	BlobPending
	BlobLive
	BlobDeleting
)

func (s BlobState) String() string {
	return [...]string{"absent", "pending", "live", "deleting"}[s]
}

// Blob is the hub-wide record of one blob's content.
type Blob struct {
	Digest    digest.Digest
	Size      int64
	State     BlobState
	CreatedAt time.Time // when it entered its state
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
	Blobs        []digest.Digest   // blobs that must be linked in the repository
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
// a missing repository, manifest, tag or link; ErrConflict for a change
// the current state forbids (a blob still referenced).
type Store interface {
	Close() error

	Catalog
	Accounts

	// Repository returns a repository by name.
	Repository(ctx context.Context, name string) (Repository, error)

	// Blob returns the hub-wide record of a blob (State BlobAbsent and ErrNotFound when none).
	Blob(ctx context.Context, d digest.Digest) (Blob, error)
	// LinkBlob links a live blob into repo (creating repo if needed) and
	// returns BlobLive; for a blob in any other state it changes nothing and
	// returns that state.
	LinkBlob(ctx context.Context, repo string, d digest.Digest, now time.Time) (BlobState, error)
	// LinkOrReserve is LinkBlob for a live blob; an absent one it records as
	// pending, for the caller to write, and returns BlobAbsent: the
	// reservation is the caller's. Other states it returns, changing nothing.
	LinkOrReserve(ctx context.Context, repo string, d digest.Digest, size int64, now time.Time) (BlobState, error)
	// PublishBlob makes a pending blob live and links it into repo.
	PublishBlob(ctx context.Context, repo string, d digest.Digest, now time.Time) error
	// RepoBlob returns a live blob linked into repo.
	RepoBlob(ctx context.Context, repo string, d digest.Digest) (Link, error)
	// PublicHolder names a public repository linking live blob d, "" when none does.
	PublicHolder(ctx context.Context, d digest.Digest) (string, error)
	// TouchLink records that a client has just relied on a link.
	TouchLink(ctx context.Context, repo string, d digest.Digest, now time.Time) error
	// UnlinkBlob removes a link; ErrConflict while a manifest of repo refers to the blob.
	UnlinkBlob(ctx context.Context, repo string, d digest.Digest) error

	// PutManifest stores m in repo and points tags at it, in one transaction;
	// a *MissingError when m refers to blobs or manifests repo lacks.
	PutManifest(ctx context.Context, repo string, m Manifest, tags []string) error
	// Manifest returns a manifest by tag or digest.
	Manifest(ctx context.Context, repo, reference string) (Manifest, error)
	// DeleteManifest removes a manifest and every tag pointing at it.
	DeleteManifest(ctx context.Context, repo string, d digest.Digest) error
	// DeleteTag removes one tag; the manifest stays.
	DeleteTag(ctx context.Context, repo, tag string) error
	// Tags lists a repository's tags in byte order.
	Tags(ctx context.Context, repo string, p Page) (tags []string, more bool, err error)
	// Referrers lists manifests of repo whose subject is d, optionally only one artifactType.
	Referrers(ctx context.Context, repo string, d digest.Digest, artifactType string) ([]Descriptor, error)

	// FindGarbage reports, without changing anything, the links no manifest
	// refers to that were last touched before cutoff, and the live blobs
	// that would then have no link and were created before cutoff.
	FindGarbage(ctx context.Context, cutoff time.Time) (Garbage, error)
	// CollectGarbage removes those links and marks those blobs deleting, in
	// one transaction; it also marks pending blobs reserved before
	// staleBefore (their writer died) and takes over blobs another collector
	// marked before staleBefore (it died). It returns what it did: the blobs
	// are the caller's to delete, and no other collector's.
	CollectGarbage(ctx context.Context, now, cutoff, staleBefore time.Time) (Garbage, error)
	// ClaimOrphan records content found without a record as deleting, for
	// the caller to delete; false when a record appeared meanwhile.
	ClaimOrphan(ctx context.Context, d digest.Digest, size int64, now time.Time) (bool, error)
	// ForgetBlob removes the record of a blob marked deleting, once its content is gone.
	ForgetBlob(ctx context.Context, d digest.Digest) error
}
