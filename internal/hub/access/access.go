// Package access is the seam between the registry's router and whoever
// decides who may do what. The router asks once per request, before any
// handler runs, with every (repository, action) the request needs;
// handlers never decide access themselves. AllowAll is a hub without
// accounts; package auth decides for a hub with accounts, tokens and
// private repositories.
//
// The decision also says who the request acts for (a Subject, carried in
// the request's context), so that listings show only what that subject may
// see.
package access

import (
	"context"
	"net/http"
)

// Action is what a request does to a repository.
type Action string

const (
	Pull   Action = "pull"   // read manifests, tags, blobs, referrers
	Push   Action = "push"   // upload blobs, put manifests
	Delete Action = "delete" // delete manifests, tags, blobs
	// Catalog lists repositories; its Need has no repository.
	Catalog Action = "catalog"
	// Search lists repositories matching a term (docker search); no repository.
	Search Action = "search"
	// Ping is /v2/: with accounts, a client without credentials or a token
	// is told how to get one, as docker login expects. No repository.
	Ping Action = "ping"
	// ManageNamespace sets what applies to every repository of a namespace
	// (its tag rules); its name is the namespace, not a repository. Only
	// the website asks for it.
	ManageNamespace Action = "manage-namespace"
)

// Need is one permission a request requires. An optional need may be
// refused without refusing the request: the router then acts as if the
// request had not asked for it (a mount whose source may not be read
// becomes a plain upload, exactly as if the source did not exist).
type Need struct {
	Repository string // "" for the registry itself (/v2/, the catalog)
	Action     Action
	Optional   bool
}

// Subject is who a request acts for.
type Subject struct {
	User  string // "" when anonymous
	Admin bool
	All   bool // sees every repository: a hub without accounts
}

// Decision is a request allowed: who it acts for, and which optional
// needs were refused.
type Decision struct {
	Subject Subject
	Refused []Need
}

// Decider allows a request or says why not. A refusal is an error wrapping
// errdefs.ErrUnauthorized (no, bad or insufficient credentials; a challenge
// goes with it) or errdefs.ErrForbidden. It must not tell a repository that
// exists but may not be read from one that does not exist.
type Decider interface {
	Decide(ctx context.Context, r *http.Request, needs []Need) (Decision, error)
}

// AllowAll allows everything: the hub without accounts.
type AllowAll struct{}

// Decide allows.
func (AllowAll) Decide(context.Context, *http.Request, []Need) (Decision, error) {
	return Decision{Subject: Subject{All: true}}, nil
}

// Mirrors says which repository names are a pull-through cache's, for an
// action (package mirror): read-only, pulled by anyone unless they need a
// signed-in user.
type Mirrors interface {
	Mirrored(ctx context.Context, name string, action Action) (mirrored, signIn bool, err error)
}

type subjectKey struct{}

// WithSubject returns ctx carrying s.
func WithSubject(ctx context.Context, s Subject) context.Context {
	return context.WithValue(ctx, subjectKey{}, s)
}

// SubjectFrom returns the subject ctx carries; anonymous when none.
func SubjectFrom(ctx context.Context) Subject {
	s, _ := ctx.Value(subjectKey{}).(Subject)
	return s
}
