// Package web is the hub's website: server-rendered pages (html/template)
// with embedded CSS, that work without JavaScript. People sign up and in,
// make access tokens, browse and search repositories, see each tag's
// layers and configuration, and manage visibility, collaborators and
// deletion; organizations have members, teams granted repositories,
// access tokens and webhooks, run by their owners; administrators manage
// users, sign-up and storage.
//
// Sessions are random secrets in a cookie (HttpOnly, SameSite=Lax, Secure
// over https), stored hashed as credentials of package auth. Every POST
// carries a CSRF token bound to the session (or, before sign-in, to a
// random cookie) and must come from the hub's own origin. What a page shows
// is decided by auth's rules: a repository one may not see is a 404 page,
// the same as one that does not exist.
package web

import (
	"context"
	"embed"
	"log/slog"
	"net/http"
	"strings"

	"github.com/strata-dev/strata/internal/hub/audit"
	"github.com/strata-dev/strata/internal/hub/auth"
	"github.com/strata-dev/strata/internal/hub/meta"
	"github.com/strata-dev/strata/internal/hub/retention"
	"github.com/strata-dev/strata/internal/hub/storage"
	"github.com/strata-dev/strata/internal/hub/webhook"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Deps are what the website works with.
type Deps struct {
	Auth     *auth.Service
	Meta     meta.Store
	Blobs    *storage.Store
	Log      *slog.Logger
	Audit    *audit.Recorder
	Webhooks *webhook.Dispatcher
	// Delete deletes a tag or manifest as the registry API does (immutable
	// tags refused, the audit log told): distapi.API.Delete.
	Delete func(ctx context.Context, repo, ref string, details map[string]string) error
	// Retention plans and runs the tag policies' retention (its dry run
	// is on the tag rules pages).
	Retention *retention.Runner
	// MirrorPrefixes are the namespaces the pull-through cache stores what
	// it fetches under: their tags follow the upstreams'.
	MirrorPrefixes []string
}

// site serves the pages.
type site struct {
	Deps
	pages map[string]*pageTemplate
	facts *factsCache
}

// New returns the website's handler.
func New(d Deps) http.Handler {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	s := &site{Deps: d, pages: parsePages(), facts: newFactsCache()}
	mux := http.NewServeMux()
	mux.Handle("GET /static/", http.FileServerFS(staticFS))
	mux.HandleFunc("GET /{$}", s.home)
	mux.HandleFunc("GET /explore", s.explore)
	mux.HandleFunc("GET /signin", s.signinPage)
	mux.HandleFunc("POST /signin", s.signin)
	mux.HandleFunc("GET /signup", s.signupPage)
	mux.HandleFunc("POST /signup", s.signup)
	mux.HandleFunc("POST /signout", s.signout)
	mux.HandleFunc("GET /settings", s.signedIn(s.settings))
	mux.HandleFunc("POST /settings/tokens", s.signedIn(s.createToken))
	mux.HandleFunc("POST /settings/tokens/revoke", s.signedIn(s.revokeToken))
	mux.HandleFunc("POST /settings/visibility", s.signedIn(s.defaultVisibility))
	mux.HandleFunc("POST /settings/password", s.signedIn(s.changePassword))
	mux.HandleFunc("GET /new", s.signedIn(s.newRepoPage))
	mux.HandleFunc("POST /new", s.signedIn(s.newRepo))
	mux.HandleFunc("GET /r/{path...}", s.repoGet)
	mux.HandleFunc("POST /r/{path...}", s.signedIn(s.repoPost))
	mux.HandleFunc("GET /orgs/new", s.signedIn(s.newOrgPage))
	mux.HandleFunc("POST /orgs/new", s.signedIn(s.newOrg))
	mux.HandleFunc("GET /o/{org}", s.orgPage)
	mux.HandleFunc("GET /o/{org}/t/{team}", s.teamPage)
	mux.HandleFunc("GET /o/{org}/settings", s.signedIn(s.orgSettings))
	mux.HandleFunc("POST /o/{org}/-/{action...}", s.signedIn(s.orgPost))
	mux.HandleFunc("GET /n/{ns}/tagrules", s.namespaceRules(""))
	mux.HandleFunc("POST /n/{ns}/tagrules", s.namespaceRules("tagrules"))
	mux.HandleFunc("POST /n/{ns}/tagrules/run", s.namespaceRules("tagrules/run"))
	mux.HandleFunc("GET /admin", s.admin(s.adminPage))
	mux.HandleFunc("POST /admin/signup", s.admin(s.adminSignup))
	mux.HandleFunc("POST /admin/users", s.admin(s.adminUser))
	mux.HandleFunc("POST /admin/gc", s.admin(s.adminGC))
	mux.HandleFunc("GET /admin/audit", s.admin(s.auditPage))
	mux.HandleFunc("GET /admin/audit/export", s.admin(s.auditExport))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { s.notFound(w, r) })
	return http.NewCrossOriginProtection().Handler(s.visitor(headers(s.canonical(mux))))
}

// headers sets what every page sends: no framing, no sniffing, scripts
// and styles only from the hub.
func headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

type visitorKey struct{}

// visitor is who is looking at a page.
type visitor struct {
	id      auth.Identity
	session string // the session cookie's secret, "" when signed out
	anchor  string // what the CSRF token is bound to
}

func (v *visitor) signedIn() bool { return !v.id.Anonymous() }

func visitorOf(ctx context.Context) *visitor {
	v, _ := ctx.Value(visitorKey{}).(*visitor)
	if v == nil {
		return &visitor{}
	}
	return v
}
