// Package access decides who may do what on the hub. The router asks once
// per request, before any handler runs, with every (repository, action)
// the request needs; handlers never decide access themselves. Today every
// repository is public and anonymous push is allowed (AllowAll); accounts,
// tokens and private repositories plug in here as another Decider.
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
)

// Need is one permission a request requires.
type Need struct {
	Repository string // "" for the registry itself (/v2/, the catalog)
	Action     Action
}

// Decider allows a request or says why not. A refusal is an error wrapping
// errdefs.ErrUnauthorized (no or bad credentials; a challenge goes with it)
// or errdefs.ErrForbidden.
type Decider interface {
	Decide(ctx context.Context, r *http.Request, needs []Need) error
}

// AllowAll allows everything: the hub before accounts exist.
type AllowAll struct{}

// Decide allows.
func (AllowAll) Decide(context.Context, *http.Request, []Need) error { return nil }
