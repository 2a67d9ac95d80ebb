package meta

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"
)

// Role is what a collaborator may do in a repository they do not own.
type Role string

const (
	RoleRead  Role = "read"  // pull
	RoleWrite Role = "write" // pull and push
)

// Collaborator is a user given a role in someone else's repository.
type Collaborator struct {
	User string
	Role Role
}

// RepoFilter selects repositories for a listing. With All unset, only the
// repositories Viewer may see are listed: public ones, and the private ones
// Viewer owns, collaborates on, owns the organization of, or is granted
// through a team ("" is anonymous: public ones only).
type RepoFilter struct {
	All    bool   // every repository (an administrator, or a hub without accounts)
	Viewer string // who is looking
	Mine   bool   // only the private-or-not ones Viewer owns, collaborates on or is granted
	Owner  string // only this owner's
	Query  string // only those whose name or description contains it, case-insensitively
	Recent bool   // most recently pushed first, instead of by name (Page.Last is then ignored)
}

// RepoSummary is a repository with what a listing shows of it.
type RepoSummary struct {
	Repository
	Tags       int
	LastPushed time.Time // zero when nothing was ever tagged
}

// Tag is a tag with the manifest it points at.
type Tag struct {
	Name      string
	Digest    digest.Digest
	MediaType string
	Size      int64 // the manifest's length
	UpdatedAt time.Time
}

// TagQuery selects a page of a repository's tags.
type TagQuery struct {
	ByDate bool // most recently pushed first (then by name), instead of by name
	Offset int  // tags to skip
	N      int  // at most this many; < 0 all
}

// RepoChange is the fields of a repository to change; nil ones stay as they are.
type RepoChange struct {
	Visibility  *Visibility
	Description *string
	Overview    *string
}

// Pulls is what a hub node counted of one repository's pulls since it
// last recorded them.
type Pulls struct {
	Repo  string
	Count int64
	Last  time.Time // the latest pull counted
	// Manifests are the manifests pulled (each recorded as pulled at Last),
	// for retention's "pulled within".
	Manifests []digest.Digest
}

// Usage is what the hub stores, for its administrator.
type Usage struct {
	Users        int
	Repositories int
	Blobs        int   // live blobs
	BlobBytes    int64 // their size, each stored once
}

// Catalog manages repositories as people see them: made, described,
// shared, listed and deleted.
type Catalog interface {
	// CreateRepository makes an empty repository; ErrAlreadyExists when the name is taken.
	CreateRepository(ctx context.Context, r Repository) error
	// UpdateRepository writes the fields c sets and nothing else.
	UpdateRepository(ctx context.Context, name string, c RepoChange) error
	// DeleteRepository removes a repository with its manifests, tags,
	// links and collaborators; blobs it alone used become garbage.
	DeleteRepository(ctx context.Context, name string) error
	// ListRepositories lists repositories by name (or most recent first)
	// that pass f; more reports whether a next page exists.
	ListRepositories(ctx context.Context, f RepoFilter, p Page) (repos []RepoSummary, more bool, err error)
	// TagList returns a page of a repository's tags with their manifests'
	// digests, types and sizes; more reports whether a next page exists.
	TagList(ctx context.Context, repo string, q TagQuery) (tags []Tag, more bool, err error)

	// SetCollaborator gives user a role in repo (ErrNotFound: no such user or repository).
	SetCollaborator(ctx context.Context, repo, user string, role Role) error
	// RemoveCollaborator takes user's role in repo away.
	RemoveCollaborator(ctx context.Context, repo, user string) error
	// Collaborators lists a repository's collaborators by name.
	Collaborators(ctx context.Context, repo string) ([]Collaborator, error)
	// CollaboratorRole is user's role in repo, "" when none.
	CollaboratorRole(ctx context.Context, repo, user string) (Role, error)

	// Overview is what a repository's page shows about it, in Markdown
	// (read apart from Repository, which every request's access check
	// reads); ErrNotFound when there is no such repository.
	Overview(ctx context.Context, repo string) (string, error)
	// RecordPulls adds each count to its repository's pulls and moves its
	// last pull forward to Last, and its Manifests' too, all in one
	// transaction; a repository or manifest that is gone is skipped.
	RecordPulls(ctx context.Context, pulls []Pulls) error

	// Usage counts users, repositories and stored blobs.
	Usage(ctx context.Context) (Usage, error)
}
