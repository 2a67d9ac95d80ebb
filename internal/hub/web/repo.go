package web

import (
	"errors"
	"html/template"
	"net/http"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/access"
	"github.com/strata-dev/strata/internal/hub/distapi"
	"github.com/strata-dev/strata/internal/hub/meta"
	"github.com/strata-dev/strata/internal/hub/webhook"
	"github.com/strata-dev/strata/internal/image"
)

// repoPath splits /r/<name>/-/<rest> into the repository name and rest.
func repoPath(r *http.Request) (name, rest string, ok bool) {
	name, rest, _ = strings.Cut(r.PathValue("path"), "/-/")
	name = strings.TrimSuffix(name, "/")
	return name, rest, distapi.CheckName(name) == nil
}

// repoAccess is what the visitor may do with a repository.
type repoAccess struct {
	Repo   meta.Repository
	Push   bool
	Manage bool // owner or administrator: settings, collaborators, deletion
}

// openRepo finds a repository the visitor may pull; false (after a 404
// page) when it does not exist or may not be seen, the same either way.
func (s *site) openRepo(w http.ResponseWriter, r *http.Request, name string) (repoAccess, bool) {
	id := visitorOf(r.Context()).id
	ctx := r.Context()
	repo, err := s.Meta.Repository(ctx, name)
	if err == nil {
		var ok bool
		if ok, err = s.Auth.May(ctx, id, name, access.Pull); err == nil && !ok {
			err = errdefs.ErrNotFound
		}
	}
	if errdefs.IsNotFound(err) {
		s.notFound(w, r)
		return repoAccess{}, false
	}
	if err != nil {
		s.serverError(w, r, err)
		return repoAccess{}, false
	}
	a := repoAccess{Repo: repo}
	a.Push, _ = s.Auth.May(ctx, id, name, access.Push)
	a.Manage, _ = s.Auth.May(ctx, id, name, access.Delete)
	return a, true
}

func (s *site) repoGet(w http.ResponseWriter, r *http.Request) {
	name, rest, ok := repoPath(r)
	if !ok {
		s.notFound(w, r)
		return
	}
	a, ok := s.openRepo(w, r, name)
	if !ok {
		return
	}
	switch {
	case rest == "":
		s.repoPage(w, r, a)
	case rest == "tagrules" && a.Manage:
		s.rulesPage(w, r, meta.ScopeRepository, a.Repo.Name, nil, "")
	case strings.HasPrefix(rest, "tags/"):
		s.manifestPage(w, r, a, strings.TrimPrefix(rest, "tags/"))
	case strings.HasPrefix(rest, "manifests/"):
		if _, err := digest.Parse(strings.TrimPrefix(rest, "manifests/")); err != nil {
			s.notFound(w, r)
			return
		}
		s.manifestPage(w, r, a, strings.TrimPrefix(rest, "manifests/"))
	default:
		s.notFound(w, r)
	}
}

// repoData is the repository page.
type repoData struct {
	repoAccess
	Host          string
	Tags          []tagRow
	Sort          string
	Page          int // of tags, from 1
	More          bool
	Used, Quota   int64 // what its namespace stores, and may
	Collaborators []meta.Collaborator
	Teams         []meta.TeamGrant // of its organization, granted a role on it
	Hooks         []hookView       // for those who manage it
	Rules         []meta.TagPolicy // its tag policies, for those who push
	HookEvents    []string
	OverviewMD    string        // the overview, in Markdown
	Overview      template.HTML // the overview rendered and sanitized
}

// tagsPerPage is how many tags the repository page shows at once.
const tagsPerPage = 50

func (s *site) repoPage(w http.ResponseWriter, r *http.Request, a repoAccess) {
	ctx := r.Context()
	d := repoData{repoAccess: a, Host: r.Host, Sort: r.URL.Query().Get("sort"), Page: 1}
	if d.Sort != "date" {
		d.Sort = "name"
	}
	if n, err := strconv.Atoi(r.URL.Query().Get("page")); err == nil && n > 1 && n <= 1e6 {
		d.Page = n
	}
	tags, more, err := s.Meta.TagList(ctx, a.Repo.Name, meta.TagQuery{ByDate: d.Sort == "date",
		Offset: (d.Page - 1) * tagsPerPage, N: tagsPerPage})
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	d.Tags, d.More = s.tagRows(ctx, a.Repo.Name, tags), more
	if d.OverviewMD, err = s.Meta.Overview(ctx, a.Repo.Name); err != nil {
		s.serverError(w, r, err)
		return
	}
	d.Overview = renderMarkdown(d.OverviewMD)
	if d.Used, d.Quota, err = s.Blobs.Usage(ctx, meta.Namespace(a.Repo.Name)); err != nil {
		s.serverError(w, r, err)
		return
	}
	if a.Push {
		if d.Rules, err = s.Meta.PoliciesFor(ctx, a.Repo.Name); err != nil {
			s.serverError(w, r, err)
			return
		}
	}
	if a.Manage {
		if d.Collaborators, err = s.Meta.Collaborators(ctx, a.Repo.Name); err == nil {
			d.Teams, err = s.Meta.RepoTeams(ctx, a.Repo.Name)
		}
		if err != nil {
			s.serverError(w, r, err)
			return
		}
		if d.Hooks, err = s.hookViews(ctx, meta.Hook{Repository: a.Repo.Name}); err != nil {
			s.serverError(w, r, err)
			return
		}
		d.HookEvents = webhook.Events
	}
	s.render(w, r, http.StatusOK, "repo", a.Repo.Name, d, "")
}

// manifestData is the tag page: an image or an index, by tag or digest.
type manifestData struct {
	repoAccess
	Host      string
	Reference string
	Tag       string
	Image     *imageView
	Index     *indexView
}

// Cache reports whether the page shows a build cache (BuildKit's registry
// cache, as an index of blobs or as a manifest), which builds import
// rather than anyone pulls.
func (d manifestData) Cache() bool {
	return d.Index != nil && d.Index.Cache || d.Image != nil && d.Image.Cache
}

func (s *site) manifestPage(w http.ResponseWriter, r *http.Request, a repoAccess, ref string) {
	ctx := r.Context()
	if !strings.Contains(ref, ":") && distapi.CheckTag(ref) != nil {
		s.notFound(w, r)
		return
	}
	m, err := s.Meta.Manifest(ctx, a.Repo.Name, ref)
	if errdefs.IsNotFound(err) {
		s.notFound(w, r)
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	d := manifestData{repoAccess: a, Host: r.Host, Reference: ref}
	if !strings.Contains(ref, ":") {
		d.Tag = ref
	}
	if image.IsIndex(m.MediaType) {
		d.Index = s.indexView(ctx, a.Repo.Name, m.Digest, m.MediaType, m.Content)
	} else {
		d.Image = s.imageView(ctx, a.Repo.Name, m.Digest, m.MediaType, m.Content)
	}
	if d.Image == nil && d.Index == nil {
		s.fail(w, r, http.StatusUnprocessableEntity, "This manifest cannot be shown: it is not an image or an index.")
		return
	}
	s.render(w, r, http.StatusOK, "tag", a.Repo.Name+":"+ref, d, "")
}

// repoPost runs a repository's forms: /r/<name>/-/<action>.
func (s *site) repoPost(w http.ResponseWriter, r *http.Request) {
	name, action, ok := repoPath(r)
	if !ok {
		s.notFound(w, r)
		return
	}
	a, ok := s.openRepo(w, r, name)
	if !ok {
		return
	}
	ctx := r.Context()
	page := "/r/" + name
	if !a.Manage && (action != "overview" || !a.Push) {
		s.fail(w, r, http.StatusForbidden, "Only the repository's owner may change it.")
		return
	}
	if action == "tagrules" || action == "tagrules/run" {
		s.rulesPost(w, r, meta.ScopeRepository, name, action)
		return
	}
	var err error
	msg := ""
	var event string // what the audit log records, "" nothing
	details := map[string]string{"repository": name}
	switch action {
	case "description":
		desc := strings.TrimSpace(r.PostForm.Get("description"))
		if len(desc) > 1000 {
			s.back(w, r, page, "Keep the description under 1000 characters.")
			return
		}
		err, msg = s.Meta.UpdateRepository(ctx, name, meta.RepoChange{Description: &desc}), "Description saved."
	case "overview": // those who may push write it
		md := strings.TrimSpace(strings.ReplaceAll(r.PostForm.Get("overview"), "\r\n", "\n"))
		if len(md) > MaxOverview {
			s.back(w, r, page, "Keep the overview under "+strconv.Itoa(MaxOverview)+" bytes.")
			return
		}
		err, msg = s.Meta.UpdateRepository(ctx, name, meta.RepoChange{Overview: &md}), "Overview saved."
	case "visibility":
		vis := visibilityField(r)
		err, msg = s.Meta.UpdateRepository(ctx, name, meta.RepoChange{Visibility: &vis}), "The repository is now "+string(vis)+"."
		event, details["visibility"], details["was"] = meta.AuditVisibility, string(vis), string(a.Repo.Visibility)
	case "collaborators":
		role := meta.RoleRead
		if r.PostForm.Get("role") == string(meta.RoleWrite) {
			role = meta.RoleWrite
		}
		user := strings.TrimSpace(r.PostForm.Get("user"))
		if user == a.Repo.Owner {
			s.back(w, r, page, "The owner needs no invitation.")
			return
		}
		err, msg = s.Meta.SetCollaborator(ctx, name, user, role), user+" may now "+map[meta.Role]string{meta.RoleRead: "pull", meta.RoleWrite: "pull and push"}[role]+"."
		event, details["user"], details["role"] = meta.AuditCollaborator, user, string(role)
		if errdefs.IsNotFound(err) {
			s.back(w, r, page, "There is no user called "+user+".")
			return
		}
	case "collaborators/remove":
		user := r.PostForm.Get("user")
		err, msg = s.Meta.RemoveCollaborator(ctx, name, user), user+" is no longer a collaborator."
		event, details["user"] = meta.AuditCollaboratorOff, user
	case "tags/delete":
		tag := r.PostForm.Get("tag")
		if distapi.CheckTag(tag) != nil {
			s.back(w, r, page, "There is no tag called "+tag+".")
			return
		}
		err, msg = s.deleteRef(r, name, tag, nil), "Tag "+tag+" deleted; the image stays under its other tags and its digest."
		var ie *meta.ImmutableError
		if errors.As(err, &ie) {
			s.back(w, r, page, sentence(err))
			return
		}
	case "webhooks", "webhooks/delete", "webhooks/redeliver":
		if msg, err = s.hookForm(r, meta.Hook{Repository: name}, action); errdefs.IsInvalidArgument(err) || errors.Is(err, errdefs.ErrForbidden) {
			s.back(w, r, page+"#webhooks", sentence(err))
			return
		}
		page += "#webhooks"
	case "delete":
		if r.PostForm.Get("confirm") != name {
			s.back(w, r, page, "Type the repository's name to delete it.")
			return
		}
		err, msg, page = s.Meta.DeleteRepository(ctx, name), "Repository "+name+" deleted.", "/"
		event = meta.AuditRepoDelete
	default:
		s.notFound(w, r)
		return
	}
	if err != nil && !errdefs.IsNotFound(err) {
		s.serverError(w, r, err)
		return
	}
	if err == nil && event != "" {
		s.record(r, event, name, details)
	}
	s.back(w, r, page, msg)
}

// deleteRef deletes a tag or manifest as the registry API does, acting
// for the visitor (whom the audit log names).
func (s *site) deleteRef(r *http.Request, repo, ref string, details map[string]string) error {
	u := visitorOf(r.Context()).id.User
	ctx := access.WithSubject(r.Context(), access.Subject{User: u.Name, Admin: u.Admin})
	return s.Delete(ctx, repo, ref, details)
}

// pullRef is what to type to pull a tag.
func pullRef(host, name, ref string) string {
	sep := ":"
	if strings.Contains(ref, ":") {
		sep = "@"
	}
	return host + "/" + name + sep + ref
}
