package web

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/access"
	"github.com/strata-dev/strata/internal/hub/auth"
	"github.com/strata-dev/strata/internal/hub/meta"
	"github.com/strata-dev/strata/internal/hub/webhook"
)

// orgAccess is an organization and what the visitor is in it.
type orgAccess struct {
	Org    meta.Org
	Role   meta.OrgRole // "" not a member
	Member bool         // sees members and teams
	Owner  bool         // manages it (owners, administrators)
}

// openOrg finds the organization of the request's path; false (after a
// 404 page) when there is none, or, with members, when the visitor is not
// one of its members (who see its teams and members; others do not, nor
// whether they exist).
func (s *site) openOrg(w http.ResponseWriter, r *http.Request, members bool) (orgAccess, bool) {
	ctx := r.Context()
	name := r.PathValue("org")
	var o meta.Org
	err := auth.CheckName(name)
	if err == nil {
		o, err = s.Meta.Org(ctx, name)
	}
	if errdefs.IsInvalidArgument(err) || errdefs.IsNotFound(err) {
		s.notFound(w, r)
		return orgAccess{}, false
	}
	if err != nil {
		s.serverError(w, r, err)
		return orgAccess{}, false
	}
	// Its owners (and administrators) manage its namespace; others may be members.
	id := visitorOf(ctx).id
	owner, err := s.Auth.May(ctx, id, name, access.ManageNamespace)
	role := meta.OrgOwner
	if !owner && err == nil {
		role = ""
		if !id.Anonymous() && id.Org == "" {
			role, err = s.Meta.MemberRole(ctx, name, id.User.Name)
		}
	}
	if err != nil {
		s.serverError(w, r, err)
		return orgAccess{}, false
	}
	if members && role == "" {
		s.notFound(w, r)
		return orgAccess{}, false
	}
	return orgAccess{Org: o, Role: role, Member: role != "", Owner: role == meta.OrgOwner}, true
}

func (s *site) newOrgPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "orgnew", "New organization", "", "")
}

// newOrg makes an organization owned by the visitor.
func (s *site) newOrg(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	v := visitorOf(ctx)
	name := strings.TrimSpace(r.PostForm.Get("name"))
	fail := func(status int, msg string) { s.render(w, r, status, "orgnew", "New organization", name, msg) }
	if v.id.Org != "" {
		fail(http.StatusForbidden, "Sign in as a user to make an organization.")
		return
	}
	if err := auth.CheckName(name); err != nil {
		fail(http.StatusBadRequest, "Use 2 to 39 lowercase letters, digits and single dashes between them, and not a reserved name.")
		return
	}
	err := s.Meta.CreateOrg(ctx, meta.Org{Name: name, CreatedBy: v.id.User.Name, CreatedAt: time.Now()})
	if errdefs.IsAlreadyExists(err) {
		fail(http.StatusConflict, "The name "+name+" is taken by a user, an organization or repositories already there: pick another.")
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.record(r, meta.AuditOrgCreate, name, map[string]string{"org": name})
	s.back(w, r, "/o/"+name, "Organization "+name+" created. Its repositories are private unless made public; add members and teams below.")
}

// orgData is an organization's page.
type orgData struct {
	orgAccess
	Host    string
	Repos   []meta.RepoSummary // those the visitor may pull
	Members []meta.Member
	Teams   []teamView
}

// teamView is a team with its members and grants.
type teamView struct {
	meta.Team
	Members []string
	Grants  []meta.Grant
}

func (s *site) orgPage(w http.ResponseWriter, r *http.Request) {
	a, ok := s.openOrg(w, r, false)
	if !ok {
		return
	}
	ctx := r.Context()
	v := visitorOf(ctx)
	d := orgData{orgAccess: a, Host: r.Host}
	f := meta.RepoFilter{Owner: a.Org.Name, Viewer: v.id.User.Name, All: v.id.User.Admin}
	var err error
	if d.Repos, _, err = s.Meta.ListRepositories(ctx, f, meta.Page{N: listLimit}); err == nil && a.Member {
		d.Members, err = s.Meta.Members(ctx, a.Org.Name)
		if err == nil {
			d.Teams, err = s.teamViews(r, a.Org.Name)
		}
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "org", a.Org.Name, d, "")
}

// teamViews are org's teams with their members and grants.
func (s *site) teamViews(r *http.Request, org string) ([]teamView, error) {
	ctx := r.Context()
	teams, err := s.Meta.Teams(ctx, org)
	out := make([]teamView, len(teams))
	for i := 0; err == nil && i < len(teams); i++ {
		out[i].Team = teams[i]
		if out[i].Members, err = s.Meta.TeamMembers(ctx, org, teams[i].Name); err == nil {
			out[i].Grants, err = s.Meta.Grants(ctx, org, teams[i].Name)
		}
	}
	return out, err
}

// teamData is a team's page.
type teamData struct {
	orgAccess
	Team  teamView
	Repos []string // the organization's repositories, to grant
}

func (s *site) teamPage(w http.ResponseWriter, r *http.Request) {
	a, ok := s.openOrg(w, r, true)
	if !ok {
		return
	}
	teams, err := s.teamViews(r, a.Org.Name)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	i := slices.IndexFunc(teams, func(t teamView) bool { return t.Name == r.PathValue("team") })
	if i < 0 {
		s.notFound(w, r)
		return
	}
	d := teamData{orgAccess: a, Team: teams[i]}
	if a.Owner {
		repos, _, err := s.Meta.ListRepositories(r.Context(), meta.RepoFilter{Owner: a.Org.Name, All: true}, meta.Page{N: -1})
		if err != nil {
			s.serverError(w, r, err)
			return
		}
		for _, repo := range repos {
			d.Repos = append(d.Repos, repo.Name)
		}
	}
	s.render(w, r, http.StatusOK, "team", a.Org.Name+" / "+d.Team.Name, d, "")
}

// orgPost runs an organization's forms, its owners' only:
// /o/<org>/-/<action>. Team forms name their team in the field "team"
// and return to its page.
func (s *site) orgPost(w http.ResponseWriter, r *http.Request) {
	a, ok := s.openOrg(w, r, true)
	if !ok {
		return
	}
	if !a.Owner {
		s.fail(w, r, http.StatusForbidden, "Only the organization's owners may change it.")
		return
	}
	if r.PathValue("action") == "tokens" {
		s.createOrgToken(w, r, a)
		return
	}
	ctx := r.Context()
	org, action, f := a.Org.Name, r.PathValue("action"), r.PostForm
	page := "/o/" + org
	user, team, repo := strings.TrimSpace(f.Get("user")), strings.TrimSpace(f.Get("team")), strings.TrimSpace(f.Get("repository"))
	details := map[string]string{"org": org}
	if strings.HasPrefix(action, "team/") && auth.CheckName(team) == nil {
		details["team"] = team
		page += "/t/" + team
	}
	var err error
	var msg, event string
	switch action {
	case "members":
		role := meta.OrgMember
		if f.Get("role") == string(meta.OrgOwner) {
			role = meta.OrgOwner
		}
		err, msg = s.Meta.SetMember(ctx, org, user, role), user+" is now "+map[meta.OrgRole]string{meta.OrgOwner: "an owner", meta.OrgMember: "a member"}[role]+" of "+org+"."
		event, details["user"], details["role"] = meta.AuditMember, user, string(role)
	case "members/remove":
		err, msg = s.Meta.RemoveMember(ctx, org, user), user+" left "+org+" and its teams."
		event, details["user"] = meta.AuditMemberOff, user
	case "teams":
		if auth.CheckName(team) != nil {
			s.back(w, r, page, "Name the team with 2 to 39 lowercase letters, digits and single dashes between them.")
			return
		}
		desc := strings.TrimSpace(f.Get("description"))
		if len(desc) > 200 {
			s.back(w, r, page, "Keep the description under 200 characters.")
			return
		}
		err, msg = s.Meta.CreateTeam(ctx, meta.Team{Org: org, Name: team, Description: desc, CreatedAt: time.Now()}), "Team "+team+" created."
		event, details["team"], page = meta.AuditTeamCreate, team, page+"/t/"+team
	case "team/delete":
		err, msg, page = s.Meta.DeleteTeam(ctx, org, team), "Team "+team+" deleted.", "/o/"+org
		event = meta.AuditTeamDelete
	case "team/members":
		err, msg = s.Meta.AddTeamMember(ctx, org, team, user), user+" is now in "+team+"."
		event, details["user"] = meta.AuditTeamMember, user
	case "team/members/remove":
		err, msg = s.Meta.RemoveTeamMember(ctx, org, team, user), user+" left "+team+"."
		event, details["user"] = meta.AuditTeamMemberOff, user
	case "team/grants":
		role := meta.Role(f.Get("role"))
		err, msg = s.Meta.SetGrant(ctx, org, team, repo, role), team+" has "+string(role)+" on "+repo+"."
		event, details["repository"], details["role"] = meta.AuditGrant, repo, string(role)
	case "team/grants/remove":
		err, msg = s.Meta.RemoveGrant(ctx, org, team, repo), team+" has nothing on "+repo+" any more."
		event, details["repository"] = meta.AuditGrantOff, repo
	case "visibility":
		vis := visibilityField(r)
		err, msg, page = s.Meta.SetOrgVisibility(ctx, org, vis), "Repositories a push makes in "+org+" are now "+string(vis)+".", page+"/settings"
		event, details["visibility"] = meta.AuditOrgVisibility, string(vis)
	case "tokens/revoke":
		id, _ := strconv.ParseInt(f.Get("id"), 10, 64)
		err, msg, page = s.Meta.DeleteOrgToken(ctx, org, id), "Token revoked: what used it is signed out.", page+"/settings"
		event, details["id"] = meta.AuditOrgTokenRevoke, f.Get("id")
	case "webhooks", "webhooks/delete", "webhooks/redeliver":
		page += "/settings#webhooks"
		if msg, err = s.hookForm(r, meta.Hook{Org: org}, action); errdefs.IsInvalidArgument(err) || errors.Is(err, errdefs.ErrForbidden) {
			s.back(w, r, page, sentence(err))
			return
		}
	case "delete":
		if f.Get("confirm") != org {
			s.back(w, r, page, "Type the organization's name to delete it.")
			return
		}
		err, msg, page, event = s.Meta.DeleteOrg(ctx, org), "Organization "+org+" deleted.", "/", meta.AuditOrgDelete
	default:
		s.notFound(w, r)
		return
	}
	switch {
	case errdefs.IsNotFound(err) || errdefs.IsInvalidArgument(err) || errdefs.IsAlreadyExists(err) || errors.Is(err, errdefs.ErrConflict):
		s.back(w, r, page, sentence(err))
		return
	case err != nil:
		s.serverError(w, r, err)
		return
	}
	if event != "" {
		s.record(r, event, org, details)
	}
	s.back(w, r, page, msg)
}

// orgSettingsData is an organization's settings page, its owners'.
type orgSettingsData struct {
	orgAccess
	Host       string
	Tokens     []meta.OrgToken
	NewToken   string // shown once, just made
	Now        time.Time
	Hooks      []hookView
	HookEvents []string
}

func (s *site) orgSettings(w http.ResponseWriter, r *http.Request) {
	a, ok := s.openOrg(w, r, true)
	if ok {
		s.renderOrgSettings(w, r, a, http.StatusOK, "", "")
	}
}

func (s *site) renderOrgSettings(w http.ResponseWriter, r *http.Request, a orgAccess, status int, newToken, errMsg string) {
	if !a.Owner {
		s.fail(w, r, http.StatusForbidden, "Only the organization's owners see its settings.")
		return
	}
	d := orgSettingsData{orgAccess: a, Host: r.Host, NewToken: newToken, Now: time.Now()}
	var err error
	d.Tokens, err = s.Meta.OrgTokens(r.Context(), a.Org.Name)
	if err == nil {
		d.HookEvents = webhook.Events
		d.Hooks, err = s.hookViews(r.Context(), meta.Hook{Org: a.Org.Name})
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.render(w, r, status, "orgsettings", a.Org.Name+" settings", d, errMsg)
}

// createOrgToken makes an access token of the organization and shows it once.
func (s *site) createOrgToken(w http.ResponseWriter, r *http.Request, a orgAccess) {
	ctx := r.Context()
	f := r.PostForm
	scope := auth.Scope(f.Get("scope"))
	secret, id, err := s.Auth.CreateOrgToken(ctx, a.Org.Name, f.Get("name"), visitorOf(ctx).id.User.Name, scope, expiryField(r))
	if errdefs.IsInvalidArgument(err) {
		s.renderOrgSettings(w, r, a, http.StatusBadRequest, "", sentence(err))
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.record(r, meta.AuditOrgTokenCreate, a.Org.Name, map[string]string{"org": a.Org.Name, "id": strconv.FormatInt(id, 10),
		"name": strings.TrimSpace(f.Get("name")), "scope": string(scope)})
	s.renderOrgSettings(w, r, a, http.StatusOK, secret, "")
}
