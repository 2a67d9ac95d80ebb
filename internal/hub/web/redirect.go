package web

import (
	"net/http"
	"net/url"
	"path"
	"strings"
)

// redirect sends the browser on to target, a path on this hub, with a 303.
// It writes the Location itself: what is checked is exactly what is sent.
func redirect(w http.ResponseWriter, target string) {
	w.Header().Set("Location", localPath(target, "/"))
	w.WriteHeader(http.StatusSeeOther)
}

// localPath is target as a Location on this hub, or fallback when it is
// not one. It normalizes as browsers read a Location (dot segments
// resolved, a backslash taken for a slash, tabs and newlines dropped)
// and refuses anything that would then leave the hub: a scheme, a host,
// a leading "//", and characters browsers rewrite.
func localPath(target, fallback string) string {
	if target == "" || target[0] != '/' || strings.ContainsFunc(target, unsafeInURL) {
		return fallback
	}
	u, err := url.Parse(target)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" ||
		strings.ContainsFunc(u.Path, unsafeInURL) {
		return fallback
	}
	clean := cleanPath(u.Path)
	loc := (&url.URL{Path: clean, RawQuery: u.RawQuery}).String()
	if !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") || strings.ContainsFunc(loc, unsafeInURL) {
		return fallback
	}
	if again, err := url.Parse(loc); err != nil || again.Host != "" || again.Scheme != "" || cleanPath(again.Path) != again.Path {
		return fallback
	}
	return loc
}

// unsafeInURL are characters browsers rewrite in a URL before they follow
// it (a backslash becomes a slash; tabs and newlines vanish), or that have
// no place in a path.
func unsafeInURL(r rune) bool {
	return r == '\\' || r < 0x20 || r == 0x7f
}

// cleanPath is p with dot segments and repeated slashes resolved, keeping
// a trailing slash: what ServeMux and http.Redirect make of a path.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

// canonical answers 404 for a path that ServeMux would redirect to its
// cleaned form (it would redirect unchecked), or that holds a backslash.
func (s *site) canonical(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.ContainsFunc(r.URL.Path, unsafeInURL) || cleanPath(r.URL.Path) != r.URL.Path {
			s.notFound(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}
