package auth

import (
	"context"
	"strings"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/access"
	"github.com/strata-dev/strata/internal/hub/meta"
)

// May reports whether id may do action on the repository called name
// (which need not exist). These are the hub's rules; see the package doc.
func (s *Service) May(ctx context.Context, id Identity, name string, action access.Action) (bool, error) {
	if !id.Scope.Allows(action) {
		return false, nil
	}
	switch action {
	case access.Ping, access.Catalog, access.Search:
		return true, nil
	}
	if s.opts.Mirrors != nil {
		if mirrored, signIn, err := s.opts.Mirrors.Mirrored(ctx, name, action); err != nil || mirrored {
			return mayMirrored(id, action, signIn), err
		}
	}
	if id.User.Admin && !id.User.Disabled {
		return true, nil
	}
	repo, err := s.meta.Repository(ctx, name)
	exists := err == nil
	if err != nil && !errdefs.IsNotFound(err) {
		return false, err
	}
	owner := repo.Owner
	if !exists {
		owner = Namespace(name)
	}
	me := id.User.Name
	isOwner := me != "" && owner == me
	switch {
	case isOwner:
		return true, nil
	case action == access.Pull && exists && repo.Visibility == meta.Public:
		return true, nil
	case me == "" || !exists || action == access.Delete:
		return false, nil
	}
	role, err := s.meta.CollaboratorRole(ctx, name, me)
	if err != nil {
		return false, err
	}
	return role == meta.RoleWrite || (role == meta.RoleRead && action == access.Pull), nil
}

// mayMirrored is the rule for a name of the pull-through cache: anyone
// pulls (a signed-in user when signIn), no one pushes (what is there is
// the upstream's), and administrators delete, to evict.
func mayMirrored(id Identity, action access.Action, signIn bool) bool {
	active := !id.Anonymous() && !id.User.Disabled
	switch action {
	case access.Pull:
		return !signIn || active
	case access.Delete:
		return active && id.User.Admin
	}
	return false
}

// Namespace is the owner a repository name implies: its first path
// component, or "" for a name with one component (only administrators
// make those). Organizations will own namespaces too.
func Namespace(name string) string {
	ns, _, nested := strings.Cut(name, "/")
	if !nested {
		return ""
	}
	return ns
}
