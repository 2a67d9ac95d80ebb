package web

import (
	"net/http"
	"strconv"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/meta"
	"github.com/strata-dev/strata/internal/hub/storage"
)

// adminData is the administrator's page.
type adminData struct {
	Users  []meta.User
	Orgs   []meta.Org
	Usage  meta.Usage
	Signup bool
	Scrub  scrubState
}

// scrubState is what the online scrub last did.
type scrubState struct {
	Running  bool   // a pass is under way
	Finished string // when the last pass ended, "" never
	Damaged  string // how many blobs it quarantined
}

func (s *site) adminPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	users, err := s.Meta.Users(ctx)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	orgs, err := s.Meta.OrgsOf(ctx, "")
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	usage, err := s.Meta.Usage(ctx)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	open, _ := s.Auth.SignupOpen(ctx)
	var sc scrubState
	cursor, _ := s.Meta.Setting(ctx, storage.SettingScrubCursor)
	sc.Running = cursor != ""
	sc.Finished, _ = s.Meta.Setting(ctx, storage.SettingScrubFinished)
	sc.Damaged, _ = s.Meta.Setting(ctx, storage.SettingScrubDamaged)
	s.render(w, r, http.StatusOK, "admin", "Administration", adminData{users, orgs, usage, open, sc}, "")
}

func (s *site) adminSignup(w http.ResponseWriter, r *http.Request) {
	open := r.PostForm.Get("signup") == "on"
	if err := s.Auth.SetSignup(r.Context(), open); err != nil {
		s.serverError(w, r, err)
		return
	}
	s.record(r, meta.AuditSignup, "signup", map[string]string{"open": strconv.FormatBool(open)})
	msg := "Sign-up is closed: only administrators make accounts."
	if open {
		msg = "Sign-up is open: anyone who reaches the hub may make an account."
	}
	s.back(w, r, "/admin", msg)
}

// adminUser disables, enables, promotes, demotes or deletes a user.
func (s *site) adminUser(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	name, op := r.PostForm.Get("name"), r.PostForm.Get("op")
	yes, no := true, false
	var err error
	switch op {
	case "delete":
		err = s.Meta.DeleteUser(ctx, name)
	case "disable":
		err = s.Meta.UpdateUser(ctx, name, meta.UserChange{Disabled: &yes})
	case "enable":
		err = s.Meta.UpdateUser(ctx, name, meta.UserChange{Disabled: &no})
	case "promote":
		err = s.Meta.UpdateUser(ctx, name, meta.UserChange{Admin: &yes})
	case "demote":
		err = s.Meta.UpdateUser(ctx, name, meta.UserChange{Admin: &no})
	default:
		s.notFound(w, r)
		return
	}
	switch {
	case errdefs.IsConflict(err), errdefs.IsNotFound(err):
		s.back(w, r, "/admin", sentence(err))
	case err != nil:
		s.serverError(w, r, err)
	default:
		s.record(r, meta.AuditUserChange, name, map[string]string{"op": op})
		s.back(w, r, "/admin", "Done: "+op+" "+name+".")
	}
}

// adminGC runs the garbage collector now.
func (s *site) adminGC(w http.ResponseWriter, r *http.Request) {
	rep, err := s.Blobs.CollectGarbage(r.Context(), r.PostForm.Get("dry") == "on")
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	verb := "Freed"
	if rep.DryRun {
		verb = "Would free"
	}
	s.record(r, meta.AuditGC, "gc", map[string]string{"dry_run": strconv.FormatBool(rep.DryRun),
		"bytes": strconv.FormatInt(rep.Bytes(), 10), "blobs": strconv.Itoa(rep.Blobs)})
	s.back(w, r, "/admin", verb+" "+humanBytes(rep.Bytes())+": "+plural(rep.Blobs, "blob")+", "+plural(rep.Uploads, "abandoned upload")+".")
}
