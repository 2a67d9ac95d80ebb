package hub_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/strata-dev/strata/internal/hub"
	"github.com/strata-dev/strata/internal/hub/auth"
	"github.com/strata-dev/strata/internal/hub/meta"
	"github.com/strata-dev/strata/internal/hub/mirror"
	"github.com/strata-dev/strata/internal/hub/mirror/upstream"
	"github.com/strata-dev/strata/internal/hub/webhook"
	"github.com/strata-dev/strata/internal/testutil"
)

// endpoint is a sample request for one route of the API, harmless to
// repeat: deletes name what does not exist (allowed: 404; refused: 401).
type endpoint struct {
	key    string // "METHOD kind", as hub.RouteKeys says
	action string // pull, push, delete, ping or catalog
	path   func(repo string, img seeded) string
	body   func(img seeded) []byte
	header func(img seeded) []string
}

var endpoints = []endpoint{
	{key: "GET base", action: "ping", path: func(string, seeded) string { return "/v2/" }},
	{key: "HEAD base", action: "ping", path: func(string, seeded) string { return "/v2/" }},
	{key: "GET catalog", action: "catalog", path: func(string, seeded) string { return "/v2/_catalog" }},
	{key: "GET search", action: "search", path: func(r string, _ seeded) string { return "/v1/search?q=" + meta.Namespace(r) }},
	{key: "GET manifest", action: "pull", path: manifestPath},
	{key: "HEAD manifest", action: "pull", path: manifestPath},
	{key: "PUT manifest", action: "push", path: manifestPath, body: func(i seeded) []byte { return i.Manifest },
		header: func(i seeded) []string { return []string{"Content-Type", i.MediaType} }},
	{key: "DELETE manifest", action: "delete", path: func(r string, _ seeded) string { return "/v2/" + r + "/manifests/no-such-tag" }},
	{key: "GET blob", action: "pull", path: blobPath},
	{key: "HEAD blob", action: "pull", path: blobPath},
	{key: "DELETE blob", action: "delete", path: func(r string, _ seeded) string { return "/v2/" + r + "/blobs/sha256:" + strings.Repeat("0", 64) }},
	{key: "POST upload-start", action: "push", path: func(r string, _ seeded) string { return "/v2/" + r + "/blobs/uploads/" }},
	{key: "GET upload", action: "push", path: uploadPath},
	{key: "PATCH upload", action: "push", path: uploadPath},
	{key: "PUT upload", action: "push", path: func(r string, _ seeded) string {
		return "/v2/" + r + "/blobs/uploads/nope?digest=sha256:" + strings.Repeat("0", 64)
	}},
	{key: "DELETE upload", action: "push", path: uploadPath},
	{key: "GET tags", action: "pull", path: func(r string, _ seeded) string { return "/v2/" + r + "/tags/list" }},
	{key: "HEAD tags", action: "pull", path: func(r string, _ seeded) string { return "/v2/" + r + "/tags/list" }},
	{key: "GET referrers", action: "pull", path: referrersPath},
	{key: "HEAD referrers", action: "pull", path: referrersPath},
}

func manifestPath(r string, _ seeded) string { return "/v2/" + r + "/manifests/v1" }
func blobPath(r string, i seeded) string     { return "/v2/" + r + "/blobs/" + i.Layer.String() }
func uploadPath(r string, _ seeded) string   { return "/v2/" + r + "/blobs/uploads/nope" }
func referrersPath(r string, i seeded) string {
	return "/v2/" + r + "/referrers/" + i.Digest.String()
}

// who is one kind of client, and what the rules let it do: by action, on
// the public and the private repository.
type who struct {
	name             string
	user, secret     string // "" anonymous; a secret of "token:<scope>" is an access token of that scope
	noToken          bool   // send no token at all
	pub, priv, other string // allowed actions as letters: l (pull), s (push), d (delete), p (ping)
	// On the pull-through cache: a mirrored name under its prefix, the
	// same at the root (as docker's registry-mirrors asks), and one of a
	// mirror that needs sign-in. At the root, library/ (the upstream's
	// official images) is pinned to the mirror: its column is mirror's.
	mirror, root, signIn string
}

var people = []who{
	{name: "anonymous, no token", noToken: true, pub: "l", priv: "", mirror: "l", root: "l", signIn: ""},
	{name: "anonymous token", pub: "lp", priv: "p", mirror: "lp", root: "lp", signIn: "p"},
	{name: "owner", user: "alice", secret: "alice-pass-1", pub: "lsdp", priv: "lsdp", mirror: "lp", root: "lp", signIn: "lp"},
	{name: "owner's read token", user: "alice", secret: "token:read", pub: "lp", priv: "lp", mirror: "lp", root: "lp", signIn: "lp"},
	{name: "owner's read-write token", user: "alice", secret: "token:read-write", pub: "lsp", priv: "lsp", mirror: "lp", root: "lp", signIn: "lp"},
	{name: "owner's read-write-delete token", user: "alice", secret: "token:read-write-delete", pub: "lsdp", priv: "lsdp", mirror: "lp", root: "lp", signIn: "lp"},
	{name: "another user", user: "bob", secret: "bob-pass-12", pub: "lp", priv: "p", mirror: "lp", root: "lp", signIn: "lp"},
	{name: "read collaborator", user: "carol", secret: "carol-pass-1", pub: "lp", priv: "lp", mirror: "lp", root: "lp", signIn: "lp"},
	{name: "write collaborator", user: "dave", secret: "dave-pass-12", pub: "lsp", priv: "lsp", mirror: "lp", root: "lp", signIn: "lp"},
	// An administrator evicts from a mirror but never pushes to it; at the
	// root (outside library/), a push or delete is of the hub's own
	// repository of that name.
	{name: "administrator", user: "ops", secret: "ops-pass-12", pub: "lsdp", priv: "lsdp", mirror: "ldp", root: "lsdp", signIn: "ldp"},
	{name: "disabled owner of another repository", user: "erin", secret: "erin-pass-12", noToken: true, pub: "l", priv: "", mirror: "l", root: "l", signIn: ""},
}

var letters = map[string]string{"pull": "l", "push": "s", "delete": "d", "ping": "p", "catalog": "c", "search": "c"}

// The access rules, who x action x visibility, on every endpoint of the
// API: an allowed request is not refused, a refused one is a 401.
func TestAccessTable(t *testing.T) {
	var covered []string
	for _, e := range endpoints {
		covered = append(covered, e.key)
	}
	for _, k := range hub.RouteKeys() {
		if !slices.Contains(covered, k) {
			t.Errorf("endpoint %s is not in the access table", k)
		}
	}
	testutil.ForEachEngine(t, hub.Config{}, testAccessTable)
}

func testAccessTable(t *testing.T, cfg hub.Config) {
	up := startUpstream(t)
	cfg.Mirrors = []mirror.Upstream{{URL: up.srv.URL, Prefix: "docker.io", Root: true},
		{URL: up.srv.URL, Prefix: "quay.io", SignIn: true}}
	cfg.Upstreams = upstream.New(cfg.Mirrors)
	h, pub, priv := accountsHub(t, cfg)
	pubImage, _ := remote.Image(mustRef(t, h.Addr+"/alice/pub:v1"), remote.WithAuth(&authn.Basic{Username: "alice", Password: "alice-pass-1"}))
	up.push(t, "library/pub:v1", pubImage)
	up.push(t, "someone/pub:v1", pubImage)
	ctx := context.Background()
	for _, u := range [][2]string{{"carol", "carol-pass-1"}, {"dave", "dave-pass-12"}, {"erin", "erin-pass-12"}} {
		if err := h.Deps.Auth.CreateUser(ctx, u[0], u[1], false); err != nil {
			t.Fatal(err)
		}
	}
	for _, repo := range []string{"alice/pub", "alice/priv"} {
		h.Deps.Meta.SetCollaborator(ctx, repo, "carol", meta.RoleRead)
		h.Deps.Meta.SetCollaborator(ctx, repo, "dave", meta.RoleWrite)
	}
	disabled := true
	h.Deps.Meta.UpdateUser(ctx, "erin", meta.UserChange{Disabled: &disabled})

	runTable(t, h, people, []target{{"alice/pub", pub, func(p who) string { return p.pub }},
		{"alice/priv", priv, func(p who) string { return p.priv }}, {"docker.io/library/pub", pub, func(p who) string { return p.mirror }},
		{"someone/pub", pub, func(p who) string { return p.root }}, {"library/pub", pub, func(p who) string { return p.mirror }},
		{"quay.io/library/pub", pub, func(p who) string { return p.signIn }}})
}

// target is a repository of an access table, and what a person may do there.
type target struct {
	repo    string
	img     seeded
	allowed func(who) string
}

// runTable checks every endpoint on every target as each of people.
func runTable(t *testing.T, h *testutil.Hub, people []who, targets []target) {
	t.Helper()
	ctx := context.Background()
	for _, p := range people {
		secret := p.secret
		var err error
		if scope, ok := strings.CutPrefix(secret, "token:"); ok {
			secret, err = h.Deps.Auth.CreateToken(ctx, p.user, scope, auth.Scope(scope), time.Time{})
		} else if scope, ok := strings.CutPrefix(secret, "orgtoken:"); ok {
			secret, _, err = h.Deps.Auth.CreateOrgToken(ctx, p.user, scope, "olga", auth.Scope(scope), time.Time{})
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, tg := range targets {
			tok := ""
			if !p.noToken {
				tr, r := getToken(t, h, p.user, secret, "repository:"+tg.repo+":pull,push,delete", "registry:catalog:*,search")
				if r.Status != 200 {
					t.Fatalf("%s: token: %d %s", p.name, r.Status, r.Body)
				}
				tok = tr.Token
			}
			checkEndpoints(t, h, p.name, tok, tg.repo, tg.img, tg.allowed(p))
		}
	}
}

// checkEndpoints calls every endpoint on repo with tok (of who) and
// checks that exactly the allowed actions (letters) pass, and that the
// listings show repo exactly when who may pull it.
func checkEndpoints(t *testing.T, h *testutil.Hub, who, tok, repo string, img seeded, allowed string) {
	t.Helper()
	for _, e := range endpoints {
		var body []byte
		var header []string
		if e.body != nil {
			body, header = e.body(img), e.header(img)
		}
		method, _, _ := strings.Cut(e.key, " ")
		r := call(t, method, h.URL()+e.path(repo, img), tok, body, header...)
		want := strings.Contains(allowed, letters[e.action]) || letters[e.action] == "c"
		if got := r.Status != 401 && r.Status != 403; got != want || r.Status >= 500 {
			t.Errorf("%s, %s on %s: %d %s (allowed: %v)", who, e.key, repo, r.Status, strings.TrimSpace(r.Body), want)
		}
		// The listings show the repository exactly to those who may
		// pull it (a mirror's repository is listed under its stored
		// name, one needing sign-in to administrators only).
		if e.key == "GET catalog" && repo == "quay.io/library/pub" {
			if listed := strings.Contains(r.Body, `"`+repo+`"`); listed != (who == "administrator") {
				t.Errorf("%s: the sign-in mirror's %s listed %v: %s", who, repo, listed, r.Body)
			}
		}
		if letters[e.action] == "c" && (strings.HasPrefix(repo, "alice/") || strings.HasPrefix(repo, "acme/")) {
			listed := strings.Contains(r.Body, `"`+repo+`"`)
			// A name no repository has yet (acme/new) is listed to no one.
			if pull := strings.Contains(allowed, "l") && repo != "acme/new"; listed != pull {
				t.Errorf("%s, %s: %s listed %v, may pull %v: %s", who, e.key, repo, listed, pull, r.Body)
			}
		}
	}
}

// orgPeople are the roles around organization acme, and what they may do
// (letters as in people) on its public and private repositories, and on
// a name in its namespace that no repository has yet.
var orgPeople = []who{
	{name: "anonymous", noToken: true, pub: "l", priv: "", other: ""},
	{name: "organization owner", user: "olga", secret: "olga-pass-12", pub: "lsdp", priv: "lsdp", other: "lsdp"},
	{name: "organization owner's read token", user: "olga", secret: "token:read", pub: "lp", priv: "lp", other: "lp"},
	{name: "member in no team", user: "mia", secret: "mia-pass-123", pub: "lp", priv: "p", other: "p"},
	{name: "team read member", user: "rita", secret: "rita-pass-12", pub: "lp", priv: "lp", other: "p"},
	{name: "team write member", user: "will", secret: "will-pass-12", pub: "lsp", priv: "lsp", other: "p"},
	{name: "team admin member", user: "adam", secret: "adam-pass-12", pub: "lsdp", priv: "lsdp", other: "p"},
	{name: "team admin member's read-write token", user: "adam", secret: "token:read-write", pub: "lsp", priv: "lsp", other: "p"},
	{name: "write member of another team only", user: "tess", secret: "tess-pass-12", pub: "lp", priv: "p", other: "p"},
	{name: "non-member", user: "bob", secret: "bob-pass-12", pub: "lp", priv: "p", other: "p"},
	{name: "owner of another namespace", user: "alice", secret: "alice-pass-1", pub: "lp", priv: "p", other: "p"},
	{name: "administrator", user: "ops", secret: "ops-pass-12", pub: "lsdp", priv: "lsdp", other: "lsdp"},
	// An organization's token logs in with the organization's name.
	{name: "organization read token", user: "acme", secret: "orgtoken:read", pub: "lp", priv: "lp", other: "lp"},
	{name: "organization read-write token", user: "acme", secret: "orgtoken:read-write", pub: "lsp", priv: "lsp", other: "lsp"},
	{name: "another organization's token", user: "globex", secret: "orgtoken:read-write", pub: "lp", priv: "p", other: "p"},
}

// orgHub is accountsHub with organizations acme and globex: olga owns them; mia is a
// member in no team; teams readers, writers and admins (rita, will,
// adam) are granted acme/priv and acme/pub; tess is in a team granted
// nothing of them. acme/pub is public, acme/priv private.
func orgHub(t *testing.T, cfg hub.Config) (h *testutil.Hub, pub, priv seeded) {
	h, _, _ = accountsHub(t, cfg)
	ctx := context.Background()
	for _, u := range [][2]string{{"olga", "olga-pass-12"}, {"mia", "mia-pass-123"}, {"rita", "rita-pass-12"},
		{"will", "will-pass-12"}, {"adam", "adam-pass-12"}, {"tess", "tess-pass-12"}} {
		if err := h.Deps.Auth.CreateUser(ctx, u[0], u[1], false); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(h.Deps.Meta.CreateOrg(ctx, meta.Org{Name: "acme", CreatedBy: "olga", CreatedAt: time.Now()}))
	must(h.Deps.Meta.CreateOrg(ctx, meta.Org{Name: "globex", CreatedBy: "olga", CreatedAt: time.Now()}))
	must(h.Deps.Meta.SetMember(ctx, "acme", "mia", meta.OrgMember))
	pubImg, privImg := randomImage(t, 1), randomImage(t, 1)
	must(pushAs(t, h.Addr+"/acme/pub:v1", "olga", "olga-pass-12", pubImg))
	must(pushAs(t, h.Addr+"/acme/priv:v1", "olga", "olga-pass-12", privImg))
	setVisibility(t, h, "acme/pub", meta.Public)
	must(pushAs(t, h.Addr+"/acme/other:v1", "olga", "olga-pass-12", randomImage(t, 1)))
	for team, member := range map[string]string{"readers": "rita", "writers": "will", "admins": "adam", "others": "tess"} {
		must(h.Deps.Meta.CreateTeam(ctx, meta.Team{Org: "acme", Name: team, CreatedAt: time.Now()}))
		must(h.Deps.Meta.AddTeamMember(ctx, "acme", team, member))
	}
	for _, repo := range []string{"acme/pub", "acme/priv"} {
		must(h.Deps.Meta.SetGrant(ctx, "acme", "readers", repo, meta.RoleRead))
		must(h.Deps.Meta.SetGrant(ctx, "acme", "writers", repo, meta.RoleWrite))
		must(h.Deps.Meta.SetGrant(ctx, "acme", "admins", repo, meta.RoleAdmin))
	}
	must(h.Deps.Meta.SetGrant(ctx, "acme", "others", "acme/other", meta.RoleWrite))
	return h, seed(t, pubImg), seed(t, privImg)
}

// The access rules of an organization's roles, on every endpoint of the
// API, its public, private and not yet made repositories; the catalog
// and search list a repository exactly to those who may pull it.
func TestAccessTableOrgs(t *testing.T) {
	testutil.ForEachEngine(t, hub.Config{}, func(t *testing.T, cfg hub.Config) {
		h, pub, priv := orgHub(t, cfg)
		runTable(t, h, orgPeople, []target{{"acme/pub", pub, func(p who) string { return p.pub }},
			{"acme/priv", priv, func(p who) string { return p.priv }}, {"acme/new", pub, func(p who) string { return p.other }}})
		orgPages(t, h)
	})
}

// orgPages checks the website as each of orgPeople who signs in with a
// password: a repository's page opens exactly for those who may pull it,
// and the organization's page, the dashboard and explore list it exactly
// then too; members and teams show to members only, the settings to
// owners (and administrators) only.
func orgPages(t *testing.T, h *testutil.Hub) {
	for _, p := range orgPeople {
		if strings.Contains(p.secret, "token:") {
			continue // tokens do not sign in on the website
		}
		c := newWebClient(t, h)
		if p.user != "" {
			c.signIn(p.user, p.secret)
		}
		orgPage := c.get("/o/acme")
		explore := c.get("/explore?q=acme")
		dashboard := c.get("/")
		for _, tg := range []struct{ repo, allowed string }{{"acme/pub", p.pub}, {"acme/priv", p.priv}} {
			pull := strings.Contains(tg.allowed, "l")
			if r := c.get("/r/" + tg.repo); (r.Status == 200) != pull || (!pull && r.Status != 404) {
				t.Errorf("%s: the page of %s: %d (may pull: %v)", p.name, tg.repo, r.Status, pull)
			}
			if listed := strings.Contains(orgPage.Body, `href="/r/`+tg.repo+`"`); listed != pull {
				t.Errorf("%s: the organization's page lists %s: %v (may pull: %v)", p.name, tg.repo, listed, pull)
			}
			if listed := strings.Contains(explore.Body, `href="/r/`+tg.repo+`"`); listed != (tg.repo == "acme/pub") {
				t.Errorf("%s: explore lists %s: %v", p.name, tg.repo, listed)
			}
			if listed := strings.Contains(dashboard.Body, `href="/r/`+tg.repo+`"`); p.user != "" && p.user != "ops" && tg.repo == "acme/priv" && listed != pull {
				t.Errorf("%s: the dashboard lists %s: %v (may pull: %v)", p.name, tg.repo, listed, pull)
			}
		}
		member := slices.Contains([]string{"olga", "mia", "rita", "will", "adam", "tess", "ops"}, p.user)
		if shown := strings.Contains(orgPage.Body, `id="members"`); shown != member {
			t.Errorf("%s: the organization's members shown: %v", p.name, shown)
		}
		if p.user == "ops" && !strings.Contains(c.get("/admin").Body, `href="/o/acme"`) {
			t.Errorf("the administrator's page lists no acme")
		}
		owner := p.user == "olga" || p.user == "ops"
		if r := c.get("/o/acme/settings"); (r.Status == 200) != owner || strings.Contains(r.Body, "strata_oat_") {
			t.Errorf("%s: the organization's settings: %d", p.name, r.Status)
		}
	}
}

// adminPages are the website's pages for administrators only.
var adminPages = []string{"/admin", "/admin/audit", "/admin/audit?user=alice&action=push", "/admin/audit/export",
	"/admin/audit/export?action=signin"}

// Administrators' pages: signed-out visitors are sent to sign in, other
// users see a 404 (as if there were none), credentials for the registry
// API open nothing; only an administrator's session reads them.
func TestAccessTableAdminPages(t *testing.T) {
	h, _, _ := accountsHub(t, hub.Config{})
	clients := map[string]*webClient{"anonymous": newWebClient(t, h)}
	for _, u := range [][2]string{{"alice", "alice-pass-1"}, {"bob", "bob-pass-12"}, {"ops", "ops-pass-12"}} {
		clients[u[0]] = newWebClient(t, h)
		clients[u[0]].signIn(u[0], u[1])
	}
	tr, r := getToken(t, h, "ops", "ops-pass-12", "registry:catalog:*")
	if r.Status != 200 {
		t.Fatalf("token: %d", r.Status)
	}
	for _, p := range adminPages {
		for who, want := range map[string]int{"anonymous": 303, "alice": 404, "bob": 404, "ops": 200} {
			r := clients[who].get(p)
			if r.Status != want {
				t.Errorf("%s, GET %s: %d, want %d", who, p, r.Status, want)
			}
			if want != 200 && (strings.Contains(r.Body, "signin.failed") || strings.Contains(r.Body, `"action"`)) {
				t.Errorf("%s, GET %s: the log leaks:\n%s", who, p, r.Body)
			}
		}
		for what, header := range map[string][]string{
			"ops's bearer token": {"Authorization", "Bearer " + tr.Token},
			"ops's password":     {"Authorization", "Basic b3BzOm9wcy1wYXNzLTEy"}, // ops:ops-pass-12
		} {
			req, _ := http.NewRequest("GET", h.URL()+p, nil)
			req.Header.Set(header[0], header[1])
			resp, err := clients["anonymous"].c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 303 {
				t.Errorf("GET %s with %s: %d, want 303 to sign in", p, what, resp.StatusCode)
			}
		}
	}
}

// The webhook forms of a repository's page: only its managers (owner,
// administrators) make, delete or redeliver hooks; a collaborator who may
// push gets a 403, another user sees no private repository (404), a
// signed-out visitor has no form token (403). Refused forms change nothing.
func TestAccessTableWebhookForms(t *testing.T) {
	h, _, _ := accountsHub(t, hub.Config{Webhooks: webhook.Options{AllowPrivate: true}})
	ctx := context.Background()
	if err := h.Deps.Auth.CreateUser(ctx, "dave", "dave-pass-12", false); err != nil {
		t.Fatal(err)
	}
	for _, repo := range []string{"alice/pub", "alice/priv"} {
		h.Deps.Meta.SetCollaborator(ctx, repo, "dave", meta.RoleWrite)
	}
	clients := map[string]*webClient{"anonymous": newWebClient(t, h)}
	for _, u := range [][2]string{{"alice", "alice-pass-1"}, {"bob", "bob-pass-12"}, {"dave", "dave-pass-12"}, {"ops", "ops-pass-12"}} {
		clients[u[0]] = newWebClient(t, h)
		clients[u[0]].signIn(u[0], u[1])
	}
	for _, repo := range []string{"alice/pub", "alice/priv"} {
		want := map[string]int{"anonymous": 403, "alice": 303, "ops": 303, "dave": 403, "bob": 403}
		if repo == "alice/priv" {
			want["bob"] = 404
		}
		for _, who := range []string{"anonymous", "bob", "dave", "alice", "ops"} {
			c := clients[who]
			c.get("/r/" + repo)
			before, _ := h.Deps.Meta.Hooks(ctx, repo)
			r := c.post("/r/"+repo+"/-/webhooks", url.Values{"url": {"http://127.0.0.1:9/" + who}, "events": {webhook.Push}})
			after, _ := h.Deps.Meta.Hooks(ctx, repo)
			if r.Status != want[who] {
				t.Errorf("%s adds a webhook to %s: %d, want %d", who, repo, r.Status, want[who])
			}
			if made := len(after) > len(before); made != (who == "alice" || who == "ops") {
				t.Errorf("%s adds a webhook to %s: made %v", who, repo, made)
			}
			if len(after) == 0 {
				continue
			}
			id := itoa(after[0].ID)
			for _, form := range []string{"webhooks/redeliver", "webhooks/delete"} {
				if who == "alice" || who == "ops" {
					continue
				}
				if r := c.post("/r/"+repo+"/-/"+form, url.Values{"id": {id}}); r.Status != want[who] {
					t.Errorf("%s, %s on %s: %d, want %d", who, form, repo, r.Status, want[who])
				}
			}
			if left, _ := h.Deps.Meta.Hooks(ctx, repo); len(left) != len(after) {
				t.Errorf("%s deleted a webhook of %s", who, repo)
			}
		}
	}
}

// The tag rules pages, by organization role: a repository's rules are
// its managers' (owners, team admins, administrators), a namespace's its
// owners' and administrators'; everyone else sees a 404 (signed out, the
// namespace's sends them to sign in) and changes nothing.
func TestAccessTableTagRules(t *testing.T) {
	h, _, _ := orgHub(t, hub.Config{})
	ctx := context.Background()
	repoPage, nsPage := "/r/acme/priv/-/tagrules", "/n/acme/tagrules"
	for _, tc := range []struct {
		user, password string
		repo, ns       int
	}{
		{"", "", 404, 303},
		{"olga", "olga-pass-12", 200, 200},
		{"mia", "mia-pass-123", 404, 404},
		{"rita", "rita-pass-12", 404, 404},
		{"will", "will-pass-12", 404, 404},
		{"adam", "adam-pass-12", 200, 404},
		{"alice", "alice-pass-1", 404, 404},
		{"ops", "ops-pass-12", 200, 200},
	} {
		w := newWebClient(t, h)
		if tc.user != "" {
			w.signIn(tc.user, tc.password)
		}
		for page, want := range map[string]int{repoPage: tc.repo, nsPage: tc.ns} {
			if r := w.get(page); r.Status != want {
				t.Errorf("%q, GET %s: %d, want %d", tc.user, page, r.Status, want)
			}
			w.get("/")
			r := w.post(page, url.Values{"immutable": {tc.user + "-only"}})
			if ok := r.Status == 303; ok != (want == 200) {
				t.Errorf("%q, POST %s: %d", tc.user, page, r.Status)
			}
		}
	}
	for _, p := range []meta.TagPolicy{{Scope: meta.ScopeRepository, Name: "acme/priv"}, {Scope: meta.ScopeNamespace, Name: "acme"}} {
		got, err := h.Deps.Meta.TagPolicy(ctx, p.Scope, p.Name)
		if err != nil || len(got.Immutable) != 1 || got.Immutable[0] != "ops-only" {
			t.Errorf("%s %s changed by someone who may not: %+v, %v", p.Scope, p.Name, got, err)
		}
	}
}

// orgForms are every form of an organization's pages, with a harmless
// sample (it names what exists, so that an allowed one succeeds).
var orgForms = []struct {
	action string
	form   url.Values
}{
	{"members", url.Values{"user": {"bob"}, "role": {"owner"}}},
	{"members/remove", url.Values{"user": {"mia"}}},
	{"teams", url.Values{"team": {"new-team"}}},
	{"team/delete", url.Values{"team": {"readers"}}},
	{"team/members", url.Values{"team": {"admins"}, "user": {"bob"}}},
	{"team/members/remove", url.Values{"team": {"admins"}, "user": {"adam"}}},
	{"team/grants", url.Values{"team": {"others"}, "repository": {"acme/priv"}, "role": {"admin"}}},
	{"team/grants/remove", url.Values{"team": {"writers"}, "repository": {"acme/priv"}}},
	{"visibility", url.Values{"visibility": {"public"}}},
	{"tokens", url.Values{"name": {"ci"}, "scope": {"read-write"}}},
	{"tokens/revoke", url.Values{"id": {"1"}}},
	{"webhooks", url.Values{"url": {"http://127.0.0.1:9/hook"}, "events": {"push"}}},
	{"webhooks/delete", url.Values{"id": {"1"}}},
	{"webhooks/redeliver", url.Values{"id": {"1"}}},
	{"delete", url.Values{"confirm": {"acme"}}},
}

// Every form of an organization's pages: only its owners and the hub's
// administrators change anything; its other members (team admins too)
// get a 403, other users a 404 (as if it had no such page), signed-out
// visitors a 403 (no form token). What they sent changes nothing.
func TestAccessTableOrgForms(t *testing.T) {
	h, _, _ := orgHub(t, hub.Config{Webhooks: webhook.Options{AllowPrivate: true}})
	ctx := context.Background()
	if _, _, err := h.Deps.Auth.CreateOrgToken(ctx, "acme", "ci", "olga", auth.ScopeRead, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Deps.Meta.CreateHook(ctx, meta.Hook{Org: "acme", URL: "http://127.0.0.1:9/", Events: []string{"push"}, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	state := func() string {
		var b strings.Builder
		members, _ := h.Deps.Meta.Members(ctx, "acme")
		teams, _ := h.Deps.Meta.Teams(ctx, "acme")
		tokens, _ := h.Deps.Meta.OrgTokens(ctx, "acme")
		hooks, _ := h.Deps.Meta.OrgHooks(ctx, "acme")
		o, _ := h.Deps.Meta.Org(ctx, "acme")
		fmt.Fprint(&b, members, len(tokens), len(hooks), o.DefaultVisibility)
		for _, tm := range teams {
			m, _ := h.Deps.Meta.TeamMembers(ctx, "acme", tm.Name)
			g, _ := h.Deps.Meta.Grants(ctx, "acme", tm.Name)
			fmt.Fprint(&b, tm.Name, m, g)
		}
		return b.String()
	}
	before := state()
	clients := map[string]*webClient{"anonymous": newWebClient(t, h)}
	for _, u := range [][2]string{{"mia", "mia-pass-123"}, {"adam", "adam-pass-12"}, {"bob", "bob-pass-12"}, {"alice", "alice-pass-1"}} {
		clients[u[0]] = newWebClient(t, h)
		clients[u[0]].signIn(u[0], u[1])
	}
	for who, want := range map[string]int{"anonymous": 403, "bob": 404, "alice": 404, "mia": 403, "adam": 403} {
		c := clients[who]
		c.get("/o/acme")
		for _, f := range orgForms {
			if r := c.post("/o/acme/-/"+f.action, maps.Clone(f.form)); r.Status != want {
				t.Errorf("%s, %s: %d, want %d", who, f.action, r.Status, want)
			}
		}
	}
	if after := state(); after != before {
		t.Fatalf("refused forms changed acme:\n%s\nwas\n%s", after, before)
	}
	// The owner and an administrator: each form is taken (a redirect, or
	// the settings page with a new token), and changes something.
	for _, who := range [][2]string{{"olga", "olga-pass-12"}, {"ops", "ops-pass-12"}} {
		c := newWebClient(t, h)
		c.signIn(who[0], who[1])
		c.get("/o/acme")
		for _, f := range orgForms[:3] {
			if r := c.post("/o/acme/-/"+f.action, maps.Clone(f.form)); r.Status != 303 {
				t.Errorf("%s, %s: %d", who[0], f.action, r.Status)
			}
		}
		if r := c.post("/o/acme/-/tokens", url.Values{"name": {"ci"}, "scope": {"read"}}); r.Status != 200 {
			t.Errorf("%s makes a token: %d", who[0], r.Status)
		}
		h.Deps.Meta.DeleteTeam(ctx, "acme", "new-team")
	}
	if state() == before {
		t.Fatal("the owners' forms changed nothing")
	}
}
