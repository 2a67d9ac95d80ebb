package web

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/strata-dev/strata/internal/hub/meta"
	"github.com/strata-dev/strata/internal/hub/retention"
)

// pageTemplate is one page: the layout with the page's blocks.
type pageTemplate = template.Template

var funcs = template.FuncMap{
	"bytes":    humanBytes,
	"ago":      ago,
	"date":     func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"short":    shortDigest,
	"join":     strings.Join,
	"private":  func(v meta.Visibility) bool { return v == meta.Private },
	"pull":     pullRef,
	"plural":   plural,
	"ops":      userOps,
	"add":      func(a, b int) int { return a + b },
	"usage":    usage,
	"describe": retention.Describe,
	"days":     retention.Days,
	"hooksection": func(base, csrf string, hooks []hookView, events []string) hookSection {
		return hookSection{base, csrf, hooks, events}
	},
}

// hookSection is the webhooks part of a repository's page or an
// organization's settings: its forms post to Base + "/-/webhooks...".
type hookSection struct {
	Base, CSRF string
	Hooks      []hookView
	Events     []string
}

// usage says what a namespace stores against its quota.
func usage(used, quota int64) string {
	if quota <= 0 {
		return humanBytes(used) + " stored"
	}
	return fmt.Sprintf("%s of %s stored (%d%%)", humanBytes(used), humanBytes(quota), used*100/quota)
}

// parsePages parses every page template with the layout.
func parsePages() map[string]*pageTemplate {
	layout := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html"))
	names, _ := fs.Glob(templateFS, "templates/*.html")
	pages := map[string]*pageTemplate{}
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" {
			continue
		}
		pages[strings.TrimSuffix(base, ".html")] = template.Must(template.Must(layout.Clone()).ParseFS(templateFS, n))
	}
	return pages
}

// view is what every page gets: who is looking, the CSRF token for its
// forms, a message, and the page's own data.
type view struct {
	Title   string
	User    *meta.User
	CSRF    string
	Flash   string
	Error   string
	Signup  bool
	Nav     string
	Data    any
	Version string
}

// render writes page name with status.
func (s *site) render(w http.ResponseWriter, r *http.Request, status int, name, title string, data any, errMsg string) {
	v := visitorOf(r.Context())
	vw := view{Title: title, CSRF: s.csrfToken(v), Flash: s.takeFlash(w, r), Error: errMsg, Data: data, Nav: name}
	if v.signedIn() {
		u := v.id.User
		vw.User = &u
	}
	vw.Signup, _ = s.Auth.SignupOpen(r.Context())
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout.html", vw); err != nil {
		s.Log.Error("render page", "page", name, "err", err)
		http.Error(w, "the page could not be shown", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// fail shows a message page.
func (s *site) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	s.render(w, r, status, "message", http.StatusText(status), msg, "")
}

// notFound is the page for what does not exist, or may not be seen.
func (s *site) notFound(w http.ResponseWriter, r *http.Request) {
	s.fail(w, r, http.StatusNotFound, "There is nothing here, or you may not see it. If it is private, sign in as someone who may.")
}

func (s *site) serverError(w http.ResponseWriter, r *http.Request, err error) {
	s.Log.Error("web request failed", "path", r.URL.Path, "err", err)
	s.fail(w, r, http.StatusInternalServerError, "Something went wrong on the hub. The administrator can find the details in its log.")
}

// back redirects to the page a form came from, with a message.
func (s *site) back(w http.ResponseWriter, r *http.Request, to, msg string) {
	if msg != "" {
		s.flash(w, r, msg)
	}
	redirect(w, to)
}

// userOps are the actions the admin page offers for u.
func userOps(u meta.User) []string {
	ops := []string{"disable", "promote", "delete"}
	if u.Disabled {
		ops[0] = "enable"
	}
	if u.Admin {
		ops[1] = "demote"
	}
	return ops
}

// humanBytes writes a size in decimal units, as docker does.
func humanBytes(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	v, i := float64(n), 0
	for v >= 1000 && i < len(units)-1 {
		v /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.3g %s", v, units[i])
}

// ago writes how long ago t was, roughly.
func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute") + " ago"
	case d < 24*time.Hour:
		return plural(int(d/time.Hour), "hour") + " ago"
	case d < 60*24*time.Hour:
		return plural(int(d/(24*time.Hour)), "day") + " ago"
	}
	return t.UTC().Format("Jan 2, 2006")
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// shortDigest is a digest's first 12 hex digits, as docker shows image ids.
func shortDigest(d any) string {
	s := fmt.Sprint(d)
	if _, hex, ok := strings.Cut(s, ":"); ok && len(hex) > 12 {
		return hex[:12]
	}
	return s
}
