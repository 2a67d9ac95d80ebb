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
	case access.ManageNamespace: // name is a namespace: administrators, its user, its organization's owners
		me := id.User.Name
		switch {
		case id.Org != "": // an organization's token manages nothing
			return false, nil
		case id.User.Admin && !id.User.Disabled, me != "" && me == name:
			return true, nil
		case me == "":
			return false, nil
		}
		role, err := s.meta.MemberRole(ctx, name, me)
		return role == meta.OrgOwner, err
	}
	if s.opts.Mirrors != nil {
		if mirrored, signIn, err := s.opts.Mirrors.Mirrored(ctx, name, action); err != nil || mirrored {
			return mayMirrored(id, action, signIn), err
		}
	}
	if id.User.Admin && !id.User.Disabled {
		return true, nil
	}
	me := id.User.Name
	repo, err := s.meta.Repository(ctx, name)
	exists := err == nil
	if err != nil && !errdefs.IsNotFound(err) {
		return false, err
	}
	owner := repo.Owner
	if !exists {
		owner = Namespace(name)
	}
	switch {
	case me != "" && owner == me: // a user's own, or an organization token's organization's
		return true, nil
	case action == access.Pull && exists && repo.Visibility == meta.Public:
		return true, nil
	case me == "" || id.Org != "":
		return false, nil
	}
	role, err := s.roleIn(ctx, owner, name, me, exists)
	least, known := need[action]
	return err == nil && known && role.Rank() >= least, err
}

// need is the least role each action on a repository takes: read pulls,
// write pushes, admin deletes (and manages the repository on the web).
var need = map[access.Action]int{access.Pull: meta.RoleRead.Rank(), access.Push: meta.RoleWrite.Rank(),
	access.Delete: meta.RoleAdmin.Rank()}

// roleIn is user's role on the repository called name, whose namespace
// owner owns: an owner of that organization is its admin (and makes
// repositories there); otherwise, in a repository that exists, the
// highest role given to user as a collaborator or through a team.
func (s *Service) roleIn(ctx context.Context, owner, name, user string, exists bool) (meta.Role, error) {
	r, err := s.meta.Roles(ctx, owner, name, user)
	switch {
	case err != nil:
		return "", err
	case r.Org == meta.OrgOwner:
		return meta.RoleAdmin, nil
	case !exists:
		return "", nil
	case r.Team.Rank() > r.Collaborator.Rank():
		return r.Team, nil
	}
	return r.Collaborator, nil
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
// component (a user or an organization), or "" for a name with one
// component (only administrators make those).
func Namespace(name string) string {
	ns, _, nested := strings.Cut(name, "/")
	if !nested {
		return ""
	}
	return ns
}
