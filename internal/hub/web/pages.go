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
	"github.com/strata-dev/strata/internal/hub/distapi"
	"github.com/strata-dev/strata/internal/hub/meta"
)

// listLimit bounds the repositories a listing page shows.
const listLimit = 100

// home is the dashboard (my repositories) when signed in, else explore.
func (s *site) home(w http.ResponseWriter, r *http.Request) {
	v := visitorOf(r.Context())
	if !v.signedIn() {
		s.explore(w, r)
		return
	}
	f := meta.RepoFilter{Viewer: v.id.User.Name, Mine: true, Recent: true}
	repos, _, err := s.Meta.ListRepositories(r.Context(), f, meta.Page{N: listLimit})
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	used, quota, err := s.Blobs.Usage(r.Context(), v.id.User.Name)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	orgs, err := s.Meta.OrgsOf(r.Context(), v.id.User.Name)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "dashboard", "Your repositories", struct {
		Repos       []meta.RepoSummary
		Orgs        []meta.Org
		Host        string
		Used, Quota int64
	}{repos, orgs, r.Host, used, quota}, "")
}

// explore lists public repositories, searched by name and description.
func (s *site) explore(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if len(q) > 100 {
		q = q[:100]
	}
	repos, more, err := s.Meta.ListRepositories(r.Context(), meta.RepoFilter{Query: q, Recent: true}, meta.Page{N: listLimit})
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "explore", "Explore", struct {
		Query string
		Repos []meta.RepoSummary
		More  bool
	}{q, repos, more}, "")
}

type signForm struct {
	Name, Next string
}

func (s *site) signinPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "signin", "Sign in", signForm{Next: r.URL.Query().Get("next")}, "")
}

func (s *site) signin(w http.ResponseWriter, r *http.Request) {
	form := signForm{Name: strings.TrimSpace(r.PostForm.Get("name")), Next: r.PostForm.Get("next")}
	id, err := s.Auth.Password(r.Context(), access.Client(r), form.Name, r.PostForm.Get("password"))
	var limited *auth.RateLimitError
	switch {
	case errors.As(err, &limited):
		w.Header().Set("Retry-After", strconv.Itoa(int(limited.RetryAfter.Seconds())+1))
		s.render(w, r, http.StatusTooManyRequests, "signin", "Sign in", form, limited.Error()+".")
	case errors.Is(err, auth.ErrBadCredentials):
		s.render(w, r, http.StatusUnauthorized, "signin", "Sign in", form, "Incorrect username or password.")
	case err != nil:
		s.serverError(w, r, err)
	default:
		s.Audit.Record(r.Context(), meta.AuditEvent{Action: meta.AuditSignIn, Actor: id.User.Name, Target: id.User.Name,
			Details: map[string]string{"via": "web"}})
		s.signIn(w, r, id.User.Name, form.Next)
	}
}

func (s *site) signupPage(w http.ResponseWriter, r *http.Request) {
	if open, _ := s.Auth.SignupOpen(r.Context()); !open {
		s.fail(w, r, http.StatusForbidden, "Sign-up is closed on this hub. Ask its administrator for an account.")
		return
	}
	s.render(w, r, http.StatusOK, "signup", "Sign up", signForm{}, "")
}

func (s *site) signup(w http.ResponseWriter, r *http.Request) {
	if open, _ := s.Auth.SignupOpen(r.Context()); !open {
		s.fail(w, r, http.StatusForbidden, "Sign-up is closed on this hub. Ask its administrator for an account.")
		return
	}
	form := signForm{Name: strings.TrimSpace(r.PostForm.Get("name"))}
	pw := r.PostForm.Get("password")
	if pw != r.PostForm.Get("confirm") {
		s.render(w, r, http.StatusBadRequest, "signup", "Sign up", form, "The two passwords differ.")
		return
	}
	err := s.Auth.SignUp(r.Context(), form.Name, pw)
	switch {
	case errors.Is(err, errdefs.ErrForbidden):
		s.fail(w, r, http.StatusForbidden, "Sign-up is closed on this hub. Ask its administrator for an account.")
	case errdefs.IsAlreadyExists(err):
		s.render(w, r, http.StatusConflict, "signup", "Sign up", form, "That name is taken; pick another.")
	case errdefs.IsInvalidArgument(err):
		s.render(w, r, http.StatusBadRequest, "signup", "Sign up", form, sentence(err))
	case err != nil:
		s.serverError(w, r, err)
	default:
		s.Audit.Record(r.Context(), meta.AuditEvent{Action: meta.AuditUserCreate, Actor: form.Name, Target: form.Name,
			Details: map[string]string{"via": "signup"}})
		s.signIn(w, r, form.Name, "/")
	}
}

// sentence is an error for a person: without its class suffix.
func sentence(err error) string {
	msg := err.Error()
	for _, class := range []error{errdefs.ErrInvalidArgument, errdefs.ErrConflict, errdefs.ErrNotFound, errdefs.ErrAlreadyExists} {
		msg = strings.TrimSuffix(msg, ": "+class.Error())
	}
	return strings.ToUpper(msg[:1]) + msg[1:] + "."
}

func (s *site) signout(w http.ResponseWriter, r *http.Request) {
	if v := visitorOf(r.Context()); v.signedIn() {
		s.Auth.EndSession(r.Context(), v.id)
	}
	s.setCookie(w, r, "session", "", -1)
	redirect(w, "/")
}

// settingsData is the settings page: tokens, logins, browsers, default
// visibility, password.
type settingsData struct {
	Tokens   []meta.Credential
	Logins   []meta.Credential // refresh tokens: docker and strata logins
	Browsers []meta.Credential // web sessions
	This     int64             // this browser's session
	NewToken string            // shown once, right after it is made
	Now      time.Time
	Host     string
}

func (s *site) settings(w http.ResponseWriter, r *http.Request) {
	s.renderSettings(w, r, http.StatusOK, "", "")
}

func (s *site) renderSettings(w http.ResponseWriter, r *http.Request, status int, newToken, errMsg string) {
	v := visitorOf(r.Context())
	d := settingsData{This: v.id.Cred, NewToken: newToken, Now: time.Now(), Host: r.Host}
	for _, k := range []struct {
		kind meta.CredentialKind
		into *[]meta.Credential
	}{{meta.KindToken, &d.Tokens}, {meta.KindRefresh, &d.Logins}, {meta.KindSession, &d.Browsers}} {
		var err error
		if *k.into, err = s.Meta.Credentials(r.Context(), v.id.User.Name, k.kind); err != nil {
			s.serverError(w, r, err)
			return
		}
	}
	s.render(w, r, status, "settings", "Settings", d, errMsg)
}

func (s *site) createToken(w http.ResponseWriter, r *http.Request) {
	v := visitorOf(r.Context())
	f := r.PostForm
	secret, err := s.Auth.CreateToken(r.Context(), v.id.User.Name, f.Get("name"), auth.Scope(f.Get("scope")), expiryField(r))
	if errdefs.IsInvalidArgument(err) {
		s.renderSettings(w, r, http.StatusBadRequest, "", sentence(err))
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.record(r, meta.AuditTokenCreate, v.id.User.Name, map[string]string{"name": strings.TrimSpace(f.Get("name")), "scope": f.Get("scope")})
	s.renderSettings(w, r, http.StatusOK, secret, "")
}

// expiryField is when a token made with the form expires: in its "days"
// field's days, never for none.
func expiryField(r *http.Request) time.Time {
	if days, _ := strconv.Atoi(r.PostForm.Get("days")); days > 0 && days <= 3650 {
		return time.Now().Add(time.Duration(days) * 24 * time.Hour)
	}
	return time.Time{}
}

func (s *site) revokeToken(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.ParseInt(r.PostForm.Get("id"), 10, 64)
	err := s.Meta.DeleteCredential(r.Context(), visitorOf(r.Context()).id.User.Name, id)
	if err != nil && !errdefs.IsNotFound(err) {
		s.serverError(w, r, err)
		return
	}
	if err == nil {
		s.record(r, meta.AuditTokenRevoke, visitorOf(r.Context()).id.User.Name, map[string]string{"id": strconv.FormatInt(id, 10)})
	}
	s.back(w, r, "/settings", "Revoked: it works no more, nor anything made with it.")
}

func (s *site) defaultVisibility(w http.ResponseWriter, r *http.Request) {
	vis := visibilityField(r)
	if err := s.Meta.UpdateUser(r.Context(), visitorOf(r.Context()).id.User.Name, meta.UserChange{DefaultVisibility: &vis}); err != nil {
		s.serverError(w, r, err)
		return
	}
	s.record(r, meta.AuditUserChange, visitorOf(r.Context()).id.User.Name, map[string]string{"default_visibility": string(vis)})
	s.back(w, r, "/settings", "New repositories you push will be "+string(vis)+".")
}

func visibilityField(r *http.Request) meta.Visibility {
	if r.PostForm.Get("visibility") == string(meta.Private) {
		return meta.Private
	}
	return meta.Public
}

func (s *site) changePassword(w http.ResponseWriter, r *http.Request) {
	v := visitorOf(r.Context())
	f := r.PostForm
	if _, err := s.Auth.Password(r.Context(), access.Client(r), v.id.User.Name, f.Get("current")); err != nil {
		s.renderSettings(w, r, http.StatusBadRequest, "", "The current password is not right.")
		return
	}
	if f.Get("password") != f.Get("confirm") {
		s.renderSettings(w, r, http.StatusBadRequest, "", "The two new passwords differ.")
		return
	}
	if err := s.Auth.SetPassword(r.Context(), v.id.User.Name, f.Get("password")); err != nil {
		if errdefs.IsInvalidArgument(err) {
			s.renderSettings(w, r, http.StatusBadRequest, "", sentence(err))
			return
		}
		s.serverError(w, r, err)
		return
	}
	s.record(r, meta.AuditPassword, v.id.User.Name, nil)
	s.flash(w, r, "Password changed. Other browsers and docker logins made with the old one are signed out.")
	s.signIn(w, r, v.id.User.Name, "/settings")
}

type newRepoForm struct {
	Namespace, Name, Description string
	Namespaces                   []string // where the visitor may make one: theirs, and their organizations'
	Private                      bool
}

// namespaces are the visitor's namespace and those of the organizations they own.
func (s *site) namespaces(r *http.Request) ([]string, error) {
	id := visitorOf(r.Context()).id
	out := []string{id.User.Name}
	orgs, err := s.Meta.OrgsOf(r.Context(), id.User.Name)
	for _, o := range orgs {
		if role, err := s.Meta.MemberRole(r.Context(), o.Name, id.User.Name); err != nil || role != meta.OrgOwner {
			continue
		}
		out = append(out, o.Name)
	}
	return out, err
}

func (s *site) newRepoPage(w http.ResponseWriter, r *http.Request) {
	u := visitorOf(r.Context()).id.User
	ns, err := s.namespaces(r)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	form := newRepoForm{Namespace: u.Name, Namespaces: ns, Private: u.DefaultVisibility == meta.Private}
	if want := r.URL.Query().Get("namespace"); slices.Contains(ns, want) {
		form.Namespace = want
	}
	s.render(w, r, http.StatusOK, "new", "New repository", form, "")
}

func (s *site) newRepo(w http.ResponseWriter, r *http.Request) {
	v := visitorOf(r.Context())
	f := r.PostForm
	ns, err := s.namespaces(r)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	form := newRepoForm{Namespace: f.Get("namespace"), Namespaces: ns, Name: strings.TrimSpace(f.Get("name")),
		Description: strings.TrimSpace(f.Get("description")), Private: visibilityField(r) == meta.Private}
	if form.Namespace == "" {
		form.Namespace = v.id.User.Name
	}
	if !slices.Contains(ns, form.Namespace) {
		s.render(w, r, http.StatusForbidden, "new", "New repository", form, "You may not make repositories there.")
		return
	}
	name := form.Namespace + "/" + form.Name
	if err := distapi.CheckName(name); err != nil || form.Name == "" {
		s.render(w, r, http.StatusBadRequest, "new", "New repository", form,
			"Use lowercase letters and digits, separated by '.', '_', '-' or '/'.")
		return
	}
	if len(form.Description) > 1000 {
		s.render(w, r, http.StatusBadRequest, "new", "New repository", form, "Keep the description under 1000 characters.")
		return
	}
	if ok, err := s.Auth.May(r.Context(), v.id, name, access.Push); err != nil || !ok {
		s.render(w, r, http.StatusForbidden, "new", "New repository", form, "You may not make repositories there.")
		return
	}
	vis := meta.Public
	if form.Private {
		vis = meta.Private
	}
	err = s.Meta.CreateRepository(r.Context(), meta.Repository{Name: name, Owner: form.Namespace, Visibility: vis,
		Description: form.Description, CreatedAt: time.Now()})
	if errdefs.IsAlreadyExists(err) {
		s.render(w, r, http.StatusConflict, "new", "New repository", form, "You already have a repository called "+name+".")
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.record(r, meta.AuditRepoCreate, name, map[string]string{"repository": name, "visibility": string(vis)})
	s.back(w, r, "/r/"+name, "Repository created. Push to it with the command below.")
}
