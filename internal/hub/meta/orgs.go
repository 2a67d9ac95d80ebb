package meta

import (
	"context"
	"time"
)

// Org is an organization: it owns the namespace of its name (which no
// user may have), and its owners share it out to members through teams.
type Org struct {
	Name              string
	DefaultVisibility Visibility // of the repositories a push makes in it
	CreatedBy         string
	CreatedAt         time.Time
}

// OrgRole is what a user is in an organization.
type OrgRole string

const (
	OrgOwner  OrgRole = "owner"  // does everything in the organization and its repositories
	OrgMember OrgRole = "member" // gets what their teams are granted
)

// RoleAdmin is a team's role that manages a repository: pull, push,
// delete, and change its settings, collaborators and webhooks.
const RoleAdmin Role = "admin"

// Rank orders roles: none < read < write < admin.
func (r Role) Rank() int {
	switch r {
	case RoleRead:
		return 1
	case RoleWrite:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// Roles are what a user is given around a repository they do not own.
type Roles struct {
	Org          OrgRole // in the organization owning the repository's namespace
	Collaborator Role
	Team         Role // the highest their teams have
}

// Member is a user of an organization.
type Member struct {
	User string
	Role OrgRole
}

// Team is a group of an organization's members given roles on some of
// its repositories.
type Team struct {
	Org         string
	Name        string
	Description string
	CreatedAt   time.Time
}

// Grant is a team's role on one repository.
type Grant struct {
	Repository string
	Role       Role
}

// TeamGrant is a team's role on a repository, as the repository sees it.
type TeamGrant struct {
	Team string
	Role Role
}

// OrgToken is an organization's access token (for CI): a password for
// docker login with the organization's name, stored as its hash only.
type OrgToken struct {
	ID         int64
	Org        string
	Name       string
	Hash       string // hex SHA-256 of the secret
	Scope      string // "read" or "read-write"
	CreatedBy  string
	CreatedAt  time.Time
	ExpiresAt  time.Time // zero: never
	LastUsedAt time.Time // zero: never used
}

// Expired reports whether t may no longer be used at now.
func (t OrgToken) Expired(now time.Time) bool {
	return !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)
}

// Orgs are organizations, their members, teams and tokens. Names of
// users and organizations are one namespace: each refuses a name the
// other has (ErrAlreadyExists). An organization always keeps an owner:
// a change that would leave it none is ErrConflict, and changes nothing.
type Orgs interface {
	// CreateOrg makes an organization with o.CreatedBy as its owner
	// (ErrNotFound: no such user).
	CreateOrg(ctx context.Context, o Org) error
	// Org returns an organization by name.
	Org(ctx context.Context, name string) (Org, error)
	// SetOrgVisibility sets the visibility of the repositories a push makes in org from now on.
	SetOrgVisibility(ctx context.Context, org string, v Visibility) error
	// OrgsOf lists the organizations user belongs to, by name ("" all of them).
	OrgsOf(ctx context.Context, user string) ([]Org, error)
	// DeleteOrg removes an organization with its members, teams, tokens
	// and webhooks; ErrConflict while it has repositories.
	DeleteOrg(ctx context.Context, name string) error

	// SetMember makes user a member or owner of org (ErrNotFound: no such user or organization).
	SetMember(ctx context.Context, org, user string, role OrgRole) error
	// RemoveMember takes user out of org and its teams.
	RemoveMember(ctx context.Context, org, user string) error
	// Members lists org's members by name.
	Members(ctx context.Context, org string) ([]Member, error)
	// MemberRole is user's role in org, "" when none (or no such organization).
	MemberRole(ctx context.Context, org, user string) (OrgRole, error)

	// CreateTeam adds a team to t.Org; ErrAlreadyExists when it has one of that name.
	CreateTeam(ctx context.Context, t Team) error
	// Teams lists org's teams by name.
	Teams(ctx context.Context, org string) ([]Team, error)
	// DeleteTeam removes a team with its members and grants.
	DeleteTeam(ctx context.Context, org, team string) error
	// AddTeamMember puts user in a team, making them a member of its
	// organization when they were not.
	AddTeamMember(ctx context.Context, org, team, user string) error
	// RemoveTeamMember takes user out of a team (they stay in the organization).
	RemoveTeamMember(ctx context.Context, org, team, user string) error
	// TeamMembers lists a team's members by name.
	TeamMembers(ctx context.Context, org, team string) ([]string, error)
	// SetGrant gives a team a role on a repository of its organization
	// (ErrNotFound: no such team, or no such repository owned by the organization).
	SetGrant(ctx context.Context, org, team, repo string, role Role) error
	// RemoveGrant takes a team's role on repo away.
	RemoveGrant(ctx context.Context, org, team, repo string) error
	// Grants lists a team's roles by repository name.
	Grants(ctx context.Context, org, team string) ([]Grant, error)
	// RepoTeams lists the teams granted a role on repo, by name.
	RepoTeams(ctx context.Context, repo string) ([]TeamGrant, error)
	// TeamRole is the highest role user's teams have on repo, "" none.
	TeamRole(ctx context.Context, repo, user string) (Role, error)
	// Roles is what user is around repo, whose namespace owner owns, read
	// at once: for the access rules, one round trip.
	Roles(ctx context.Context, owner, repo, user string) (Roles, error)

	// CreateOrgToken stores a token of t.Org and returns its id (ids are never reused).
	CreateOrgToken(ctx context.Context, t OrgToken) (int64, error)
	// OrgTokenByHash finds a token by the hash of its secret.
	OrgTokenByHash(ctx context.Context, hash string) (OrgToken, error)
	// OrgTokens lists org's tokens, newest first.
	OrgTokens(ctx context.Context, org string) ([]OrgToken, error)
	// DeleteOrgToken revokes one of org's tokens.
	DeleteOrgToken(ctx context.Context, org string, id int64) error
	// TouchOrgToken records a use.
	TouchOrgToken(ctx context.Context, id int64, now time.Time) error

	// OrgHooks lists an organization's webhooks (made with CreateHook), oldest first.
	OrgHooks(ctx context.Context, org string) ([]Hook, error)
	// DeleteOrgHook removes a webhook of org, with its deliveries; ErrNotFound when org has no such hook.
	DeleteOrgHook(ctx context.Context, org string, id int64) error
}
