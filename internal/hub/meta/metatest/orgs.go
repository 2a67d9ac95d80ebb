package metatest

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/meta"
)

// names lists the repositories f selects, by name.
func names(t *testing.T, s meta.Store, f meta.RepoFilter) []string {
	t.Helper()
	repos, _, err := s.ListRepositories(context.Background(), f, meta.Page{N: -1})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range repos {
		out = append(out, r.Name)
	}
	return out
}

func testOrgs(t *testing.T, s meta.Store) {
	ctx := context.Background()
	for _, u := range []string{"alice", "bob", "carol", "dave"} {
		user(t, s, u, false)
	}
	acme := meta.Org{Name: "acme", CreatedBy: "alice", CreatedAt: t0}
	if err := s.CreateOrg(ctx, acme); err != nil {
		t.Fatal(err)
	}
	for what, o := range map[string]meta.Org{"again": acme, "a user's name": {Name: "bob", CreatedBy: "alice"}} {
		if err := s.CreateOrg(ctx, o); !errdefs.IsAlreadyExists(err) {
			t.Errorf("an organization under %s: %v", what, err)
		}
	}
	if err := s.CreateUser(ctx, meta.User{Name: "acme", PasswordHash: "x", CreatedAt: t0}, false); !errdefs.IsAlreadyExists(err) {
		t.Errorf("a user under an organization's name: %v", err)
	}
	if err := s.CreateOrg(ctx, meta.Org{Name: "ghost", CreatedBy: "nobody"}); !errdefs.IsNotFound(err) {
		t.Errorf("an organization by no user: %v", err)
	}
	live(t, s, "bob/app", dg("b"), t0)
	if err := s.CreateOrg(ctx, meta.Org{Name: "nobody", CreatedBy: "bob"}); err != nil {
		t.Fatal(err) // an unused namespace
	}
	live(t, s, "free/app", dg("f"), t0)
	if err := s.CreateOrg(ctx, meta.Org{Name: "free", CreatedBy: "bob"}); !errdefs.IsAlreadyExists(err) {
		t.Errorf("an organization over a namespace with repositories: %v", err)
	}
	if o, err := s.Org(ctx, "acme"); err != nil || o.CreatedBy != "alice" || o.DefaultVisibility != meta.Private || !o.CreatedAt.Equal(t0) {
		t.Fatalf("Org = %+v, %v", o, err)
	}
	if _, err := s.Org(ctx, "alice"); !errdefs.IsNotFound(err) {
		t.Fatalf("a user as an organization: %v", err)
	}

	// A push into the namespace makes a repository the organization owns, private by default.
	live(t, s, "acme/web", dg("1"), t0)
	live(t, s, "acme/db", dg("2"), t0)
	live(t, s, "acme/site", dg("3"), t0)
	s.UpdateRepository(ctx, "acme/site", meta.RepoChange{Visibility: ptr(meta.Public)})
	if r, _ := s.Repository(ctx, "acme/web"); r.Owner != "acme" || r.Visibility != meta.Private {
		t.Fatalf("pushed acme/web: %+v", r)
	}

	// The default visibility applies to what is pushed after.
	if err := s.SetOrgVisibility(ctx, "acme", meta.Public); err != nil {
		t.Fatal(err)
	}
	live(t, s, "acme/open", dg("4"), t0)
	if r, _ := s.Repository(ctx, "acme/open"); r.Visibility != meta.Public {
		t.Fatalf("pushed after the default became public: %+v", r)
	}
	if r, _ := s.Repository(ctx, "acme/web"); r.Visibility != meta.Private {
		t.Fatalf("pushed before: %+v", r)
	}
	for what, err := range map[string]error{"a bad visibility": s.SetOrgVisibility(ctx, "acme", "hidden"),
		"no such organization": s.SetOrgVisibility(ctx, "nope", meta.Public)} {
		if !errdefs.IsInvalidArgument(err) && !errdefs.IsNotFound(err) {
			t.Errorf("%s: %v", what, err)
		}
	}
	s.SetOrgVisibility(ctx, "acme", meta.Private)
	s.DeleteRepository(ctx, "acme/open")

	// Members and owners; the last owner stays.
	if err := s.SetMember(ctx, "acme", "bob", meta.OrgMember); err != nil {
		t.Fatal(err)
	}
	for what, err := range map[string]error{
		"demoting the last owner": s.SetMember(ctx, "acme", "alice", meta.OrgMember),
		"removing the last owner": s.RemoveMember(ctx, "acme", "alice"),
	} {
		if !errors.Is(err, errdefs.ErrConflict) {
			t.Errorf("%s: %v", what, err)
		}
	}
	if err := s.SetMember(ctx, "acme", "nobody", meta.OrgMember); !errdefs.IsNotFound(err) {
		t.Errorf("an unknown user as a member: %v", err)
	}
	if err := s.SetMember(ctx, "acme", "bob", "boss"); !errdefs.IsInvalidArgument(err) {
		t.Errorf("an unknown role: %v", err)
	}
	if m, _ := s.Members(ctx, "acme"); !slices.Equal(m, []meta.Member{{User: "alice", Role: meta.OrgOwner}, {User: "bob", Role: meta.OrgMember}}) {
		t.Fatalf("members: %v", m)
	}
	if r, _ := s.MemberRole(ctx, "acme", "alice"); r != meta.OrgOwner {
		t.Fatalf("alice is %q", r)
	}
	if r, err := s.MemberRole(ctx, "acme", "carol"); r != "" || err != nil {
		t.Fatalf("carol is %q, %v", r, err)
	}
	if o, _ := s.OrgsOf(ctx, "bob"); len(o) != 2 || o[0].Name != "acme" || o[1].Name != "nobody" {
		t.Fatalf("bob's organizations: %+v", o)
	}

	// Teams, their members and grants.
	if err := s.CreateTeam(ctx, meta.Team{Org: "acme", Name: "devs", Description: "builders", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTeam(ctx, meta.Team{Org: "acme", Name: "devs"}); !errdefs.IsAlreadyExists(err) {
		t.Errorf("a team twice: %v", err)
	}
	if err := s.CreateTeam(ctx, meta.Team{Org: "nobody", Name: "devs"}); err != nil {
		t.Errorf("a team of the same name in another organization: %v", err)
	}
	s.CreateTeam(ctx, meta.Team{Org: "acme", Name: "ops"})
	if err := s.AddTeamMember(ctx, "acme", "devs", "carol"); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.MemberRole(ctx, "acme", "carol"); r != meta.OrgMember {
		t.Fatalf("a team's member is %q of its organization", r)
	}
	s.AddTeamMember(ctx, "acme", "ops", "carol")
	s.AddTeamMember(ctx, "acme", "ops", "dave")
	for _, g := range []struct {
		team, repo string
		role       meta.Role
	}{{"devs", "acme/web", meta.RoleWrite}, {"ops", "acme/web", meta.RoleAdmin}, {"ops", "acme/db", meta.RoleRead}, {"devs", "acme/db", meta.RoleRead}} {
		if err := s.SetGrant(ctx, "acme", g.team, g.repo, g.role); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := s.RepoTeams(ctx, "acme/web"); !slices.Equal(got, []meta.TeamGrant{{Team: "devs", Role: meta.RoleWrite}, {Team: "ops", Role: meta.RoleAdmin}}) {
		t.Errorf("the teams on acme/web: %+v", got)
	}
	if err := s.SetGrant(ctx, "acme", "devs", "bob/app", meta.RoleRead); !errdefs.IsNotFound(err) {
		t.Errorf("granting another owner's repository: %v", err)
	}
	if err := s.SetGrant(ctx, "acme", "devs", "acme/web", "owner"); !errdefs.IsInvalidArgument(err) {
		t.Errorf("granting an unknown role: %v", err)
	}
	if g, _ := s.Grants(ctx, "acme", "ops"); !slices.Equal(g, []meta.Grant{{Repository: "acme/db", Role: meta.RoleRead}, {Repository: "acme/web", Role: meta.RoleAdmin}}) {
		t.Fatalf("ops's grants: %v", g)
	}
	for _, c := range []struct {
		repo, user string
		want       meta.Role
	}{{"acme/web", "carol", meta.RoleAdmin}, {"acme/web", "dave", meta.RoleAdmin}, {"acme/db", "carol", meta.RoleRead},
		{"acme/web", "bob", ""}, {"acme/web", "alice", ""}, {"acme/site", "carol", ""}} {
		if got, err := s.TeamRole(ctx, c.repo, c.user); got != c.want || err != nil {
			t.Errorf("%s's team role on %s: %q, %v; want %q", c.user, c.repo, got, err, c.want)
		}
	}

	s.SetCollaborator(ctx, "acme/web", "bob", meta.RoleRead)
	for _, c := range []struct {
		owner, repo, user string
		want              meta.Roles
	}{
		{"acme", "acme/web", "carol", meta.Roles{Org: meta.OrgMember, Team: meta.RoleAdmin}},
		{"acme", "acme/web", "bob", meta.Roles{Org: meta.OrgMember, Collaborator: meta.RoleRead}},
		{"acme", "acme/db", "alice", meta.Roles{Org: meta.OrgOwner}},
		{"acme", "acme/none", "carol", meta.Roles{Org: meta.OrgMember}},
		{"bob", "bob/app", "carol", meta.Roles{}},
	} {
		if got, err := s.Roles(ctx, c.owner, c.repo, c.user); got != c.want || err != nil {
			t.Errorf("%s's roles on %s: %+v, %v; want %+v", c.user, c.repo, got, err, c.want)
		}
	}
	s.RemoveCollaborator(ctx, "acme/web", "bob")

	// Listings show private repositories to owners and to granted teams only.
	for who, want := range map[string][]string{
		"alice": {"acme/db", "acme/site", "acme/web", "bob/app", "free/app"},
		"bob":   {"acme/site", "bob/app", "free/app"},
		"carol": {"acme/db", "acme/site", "acme/web", "bob/app", "free/app"},
		"":      {"acme/site", "bob/app", "free/app"},
	} {
		if got := names(t, s, meta.RepoFilter{Viewer: who}); !slices.Equal(got, want) {
			t.Errorf("%q sees %v, want %v", who, got, want)
		}
	}
	if got := names(t, s, meta.RepoFilter{Viewer: "dave", Mine: true}); !slices.Equal(got, []string{"acme/db", "acme/web"}) {
		t.Errorf("dave's own: %v", got)
	}

	// Leaving: a team, then the organization (and so every team).
	if err := s.RemoveTeamMember(ctx, "acme", "ops", "carol"); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.TeamRole(ctx, "acme/web", "carol"); r != meta.RoleWrite {
		t.Fatalf("carol out of ops: %q", r)
	}
	if err := s.RemoveMember(ctx, "acme", "carol"); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.TeamRole(ctx, "acme/web", "carol"); r != "" {
		t.Fatalf("carol out of acme: %q", r)
	}
	if m, _ := s.TeamMembers(ctx, "acme", "devs"); len(m) != 0 {
		t.Fatalf("devs after carol left: %v", m)
	}
	if err := s.RemoveGrant(ctx, "acme", "ops", "acme/web"); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.TeamRole(ctx, "acme/web", "dave"); r != "" {
		t.Fatalf("dave after ops lost acme/web: %q", r)
	}
	// A repository made again under the name is granted to no one.
	s.DeleteRepository(ctx, "acme/db")
	live(t, s, "acme/db", dg("2"), t0)
	if r, _ := s.TeamRole(ctx, "acme/db", "dave"); r != "" {
		t.Fatalf("dave on acme/db made again: %q", r)
	}
	if err := s.DeleteTeam(ctx, "acme", "ops"); err != nil {
		t.Fatal(err)
	}
	if teams, _ := s.Teams(ctx, "acme"); len(teams) != 1 || teams[0].Name != "devs" || teams[0].Description != "builders" {
		t.Fatalf("teams: %+v", teams)
	}

	// A user deleted leaves their organizations.
	if err := s.DeleteUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if m, _ := s.Members(ctx, "acme"); !slices.Equal(m, []meta.Member{{User: "alice", Role: meta.OrgOwner}, {User: "dave", Role: meta.OrgMember}}) {
		t.Fatalf("members after bob went: %v", m)
	}

	// An organization goes once its repositories have.
	if err := s.DeleteOrg(ctx, "acme"); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("deleting an organization with repositories: %v", err)
	}
	for _, r := range []string{"acme/web", "acme/db", "acme/site"} {
		s.DeleteRepository(ctx, r)
	}
	nsRules := meta.TagPolicy{Scope: meta.ScopeNamespace, Name: "acme", Immutable: []string{"v*"}, KeepLast: 1, UpdatedAt: t0}
	if err := s.SetTagPolicy(ctx, nsRules); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteOrg(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	// Its namespace's tag rules went with it: whoever takes the name next
	// starts with none.
	if p, err := s.TagPolicy(ctx, meta.ScopeNamespace, "acme"); err != nil || !p.Empty() {
		t.Fatalf("the organization's tag rules after it went: %+v, %v", p, err)
	}
	if o, _ := s.OrgsOf(ctx, "alice"); len(o) != 0 {
		t.Fatalf("alice's organizations after: %+v", o)
	}
	if err := s.CreateUser(ctx, meta.User{Name: "acme", PasswordHash: "x", CreatedAt: t0}, false); err != nil {
		t.Fatalf("the name after its organization went: %v", err)
	}
	if err := s.SetTagPolicy(ctx, nsRules); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if p, err := s.TagPolicy(ctx, meta.ScopeNamespace, "acme"); err != nil || !p.Empty() {
		t.Fatalf("the user's tag rules after the user went: %+v, %v", p, err)
	}
}

func testOrgTokens(t *testing.T, s meta.Store) {
	ctx := context.Background()
	user(t, s, "alice", false)
	if err := s.CreateOrg(ctx, meta.Org{Name: "acme", CreatedBy: "alice", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	s.CreateOrg(ctx, meta.Org{Name: "other", CreatedBy: "alice", CreatedAt: t0})
	tok := meta.OrgToken{Org: "acme", Name: "ci", Hash: "h1", Scope: "read", CreatedBy: "alice", CreatedAt: t0}
	id, err := s.CreateOrgToken(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateOrgToken(ctx, meta.OrgToken{Org: "none", Hash: "h2", CreatedAt: t0}); !errdefs.IsNotFound(err) {
		t.Fatalf("a token of no organization: %v", err)
	}
	got, err := s.OrgTokenByHash(ctx, "h1")
	if err != nil || got.ID != id || got.Org != "acme" || got.Scope != "read" || !got.ExpiresAt.IsZero() || !got.LastUsedAt.IsZero() {
		t.Fatalf("OrgTokenByHash = %+v, %v", got, err)
	}
	s.TouchOrgToken(ctx, id, t0.Add(1))
	if list, _ := s.OrgTokens(ctx, "acme"); len(list) != 1 || !list[0].LastUsedAt.Equal(t0.Add(1)) {
		t.Fatalf("tokens: %+v", list)
	}
	if err := s.DeleteOrgToken(ctx, "other", id); !errdefs.IsNotFound(err) {
		t.Fatalf("revoking through another organization: %v", err)
	}
	if err := s.DeleteOrgToken(ctx, "acme", id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.OrgTokenByHash(ctx, "h1"); !errdefs.IsNotFound(err) {
		t.Fatalf("a revoked token: %v", err)
	}
	id2, _ := s.CreateOrgToken(ctx, meta.OrgToken{Org: "acme", Name: "ci", Hash: "h3", Scope: "read-write", CreatedAt: t0})
	if id2 <= id {
		t.Fatalf("token ids reused: %d after %d", id2, id)
	}
}

// testOrgHooks: an organization's hooks are its own (not its
// repositories'), read back with the organization, and go with it.
func testOrgHooks(t *testing.T, s meta.Store) {
	ctx := context.Background()
	user(t, s, "alice", false)
	for _, o := range []string{"acme", "other"} {
		if err := s.CreateOrg(ctx, meta.Org{Name: o, CreatedBy: "alice", CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.CreateHook(ctx, meta.Hook{Org: "nobody", URL: "http://x"}); !errdefs.IsNotFound(err) {
		t.Fatalf("a hook of no organization: %v", err)
	}
	live(t, s, "acme/app", dg("1"), t0)
	repoHook, _ := s.CreateHook(ctx, meta.Hook{Repository: "acme/app", URL: "http://repo", Events: []string{"push"}, CreatedAt: t0})
	id, err := s.CreateHook(ctx, meta.Hook{Org: "acme", URL: "http://org", Secret: "s", Events: []string{"push", "tag_delete"}, CreatedBy: "alice", CreatedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	if h, err := s.Hook(ctx, id); err != nil || h.Org != "acme" || h.Repository != "" || h.URL != "http://org" || len(h.Events) != 2 {
		t.Fatalf("Hook = %+v, %v", h, err)
	}
	if h, err := s.Hook(ctx, repoHook); err != nil || h.Org != "" || h.Repository != "acme/app" {
		t.Fatalf("the repository's hook = %+v, %v", h, err)
	}
	if list, _ := s.OrgHooks(ctx, "acme"); len(list) != 1 || list[0].ID != id {
		t.Fatalf("acme's hooks: %+v", list)
	}
	if list, _ := s.Hooks(ctx, "acme/app"); len(list) != 1 || list[0].ID != repoHook {
		t.Fatalf("acme/app's hooks: %+v", list)
	}
	if list, _ := s.OrgHooks(ctx, "other"); len(list) != 0 {
		t.Fatalf("another organization's hooks: %+v", list)
	}
	for what, err := range map[string]error{
		"through another organization": s.DeleteOrgHook(ctx, "other", id),
		"through a repository":         s.DeleteHook(ctx, "acme/app", id),
		"a repository's, as acme's":    s.DeleteOrgHook(ctx, "acme", repoHook),
	} {
		if !errdefs.IsNotFound(err) {
			t.Errorf("deleting a hook %s: %v", what, err)
		}
	}
	did, _ := s.AddDelivery(ctx, meta.Delivery{Hook: id, Event: "push", Payload: []byte("{}"), State: meta.DeliveryPending, CreatedAt: t0, UpdatedAt: t0})
	if err := s.DeleteOrgHook(ctx, "acme", id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delivery(ctx, did); !errdefs.IsNotFound(err) {
		t.Fatalf("a deleted hook's delivery: %v", err)
	}
	id2, _ := s.CreateHook(ctx, meta.Hook{Org: "acme", URL: "http://org2", CreatedAt: t0})
	s.DeleteRepository(ctx, "acme/app")
	if err := s.DeleteOrg(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Hook(ctx, id2); !errdefs.IsNotFound(err) {
		t.Fatalf("a hook of a deleted organization: %v", err)
	}
	s.CreateOrg(ctx, meta.Org{Name: "acme", CreatedBy: "alice", CreatedAt: t0})
	if list, _ := s.OrgHooks(ctx, "acme"); len(list) != 0 {
		t.Fatalf("acme made again has hooks: %+v", list)
	}
}

// testOrgNameRace: a user and an organization made at once under one
// name: exactly one of them gets it.
func testOrgNameRace(t *testing.T, s meta.Store) {
	ctx := context.Background()
	user(t, s, "alice", false)
	for _, name := range []string{"n-one", "n-two", "n-three", "n-four", "n-five"} {
		won := race(4, func(i int) bool {
			if i%2 == 0 {
				return s.CreateUser(ctx, meta.User{Name: name, PasswordHash: "x", CreatedAt: t0}, false) == nil
			}
			return s.CreateOrg(ctx, meta.Org{Name: name, CreatedBy: "alice", CreatedAt: t0}) == nil
		})
		_, uerr := s.User(ctx, name)
		_, oerr := s.Org(ctx, name)
		if won != 1 || (uerr == nil) == (oerr == nil) {
			t.Fatalf("%s: %d won; user: %v, organization: %v", name, won, uerr, oerr)
		}
	}
}
