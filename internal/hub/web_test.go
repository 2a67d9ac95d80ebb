package hub_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/strata-dev/strata/internal/hub"
	"github.com/strata-dev/strata/internal/hub/auth"
	"github.com/strata-dev/strata/internal/hub/meta"
	"github.com/strata-dev/strata/internal/hub/web"
	"github.com/strata-dev/strata/internal/testutil"
)

// webClient is a browser without JavaScript: cookies, forms, no redirects followed.
type webClient struct {
	t    *testing.T
	base string
	c    *http.Client
	csrf string
}

func newWebClient(t *testing.T, h *testutil.Hub) *webClient {
	jar, _ := cookiejar.New(nil)
	return &webClient{t: t, base: h.URL(), c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// get fetches a page and keeps its CSRF token.
func (w *webClient) get(path string) reply {
	w.t.Helper()
	resp, err := w.c.Get(w.base + path)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if m := csrfField.FindSubmatch(b); m != nil {
		w.csrf = string(m[1])
	}
	return reply{resp.StatusCode, resp.Header, string(b)}
}

// post submits a form with the page's CSRF token (unless form sets one).
func (w *webClient) post(path string, form url.Values, header ...string) reply {
	w.t.Helper()
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", w.csrf)
	}
	req, _ := http.NewRequest("POST", w.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := w.c.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, string(b)}
}

func (w *webClient) signIn(name, password string) {
	w.t.Helper()
	w.get("/signin")
	if r := w.post("/signin", url.Values{"name": {name}, "password": {password}}); r.Status != 303 {
		w.t.Fatalf("sign in as %s: %d %s", name, r.Status, r.Body)
	}
	w.get("/")
}

// Every form needs the visitor's CSRF token and the hub's own origin.
func TestWebCSRF(t *testing.T) {
	h, _, _ := accountsHub(t, hub.Config{})
	alice, bob := newWebClient(t, h), newWebClient(t, h)
	alice.signIn("alice", "alice-pass-1")
	bob.signIn("bob", "bob-pass-12")
	form := func() url.Values { return url.Values{"name": {"x"}, "scope": {"read"}, "days": {"0"}} }
	for _, tc := range []struct {
		what   string
		form   url.Values
		header []string
	}{
		{"no token", url.Values{"name": {"x"}, "scope": {"read"}, "csrf": {""}}, nil},
		{"a forged token", url.Values{"name": {"x"}, "scope": {"read"}, "csrf": {"AAAA"}}, nil},
		{"bob's token", url.Values{"name": {"x"}, "scope": {"read"}, "csrf": {bob.csrf}}, nil},
		{"another site", form(), []string{"Sec-Fetch-Site", "cross-site"}},
		{"another origin", form(), []string{"Origin", "https://evil.example"}},
	} {
		if r := alice.post("/settings/tokens", tc.form, tc.header...); r.Status != 403 {
			t.Errorf("%s: %d, want 403", tc.what, r.Status)
		}
	}
	if list, _ := h.Deps.Meta.Credentials(context.Background(), "alice", "token"); len(list) != 0 {
		t.Fatalf("a forged form made tokens: %+v", list)
	}
	if r := alice.post("/settings/tokens", form()); r.Status != 200 || !strings.Contains(r.Body, "strata_pat_") {
		t.Fatalf("the genuine form: %d", r.Status)
	}
	// Signed-out forms are bound to a cookie of their own.
	anon := newWebClient(t, h)
	anon.get("/signin")
	if r := anon.post("/signin", url.Values{"name": {"alice"}, "password": {"alice-pass-1"}, "csrf": {alice.csrf}}); r.Status != 403 {
		t.Errorf("sign-in with another visitor's token: %d", r.Status)
	}
}

// Sessions are HttpOnly cookies, Secure (with the __Host- prefix) when the
// hub is served over https; signing out ends the session on the hub too.
func TestWebSessionCookies(t *testing.T) {
	for _, tc := range []struct {
		url    string
		name   string
		secure bool
	}{{"", "session", false}, {"https://hub.example", "__Host-session", true}} {
		h := testutil.StartAccountsHub(t, hub.Config{URL: tc.url}, [2]string{"alice", "alice-pass-1"})
		w := newWebClient(t, h)
		w.get("/signin")
		r := w.post("/signin", url.Values{"name": {"alice"}, "password": {"alice-pass-1"}})
		var c *http.Cookie
		for _, k := range (&http.Response{Header: r.Header}).Cookies() {
			if k.Name == tc.name && k.Value != "" {
				c = k
			}
		}
		if c == nil || !c.HttpOnly || c.Secure != tc.secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/" {
			t.Fatalf("URL %q: session cookie %+v", tc.url, c)
		}
	}
	h, _, _ := accountsHub(t, hub.Config{})
	w := newWebClient(t, h)
	w.signIn("alice", "alice-pass-1")
	if r := w.post("/signout", url.Values{}); r.Status != 303 {
		t.Fatalf("sign out: %d", r.Status)
	}
	if list, _ := h.Deps.Meta.Credentials(context.Background(), "alice", "session"); len(list) != 0 {
		t.Fatalf("the session outlived sign-out: %+v", list)
	}
	if r := w.get("/settings"); r.Status != 303 {
		t.Fatalf("settings after sign-out: %d", r.Status)
	}
}

// The website shows nothing private to those who may not see it: a
// private repository's pages and forms are the same 404 as a missing
// one's, and search and dashboards leave it out.
func TestWebNoLeak(t *testing.T) {
	h, _, _ := accountsHub(t, hub.Config{})
	bob, anon, alice := newWebClient(t, h), newWebClient(t, h), newWebClient(t, h)
	bob.signIn("bob", "bob-pass-12")
	alice.signIn("alice", "alice-pass-1")
	for _, w := range []*webClient{bob, anon} {
		for _, p := range []string{"/r/%s", "/r/%s/-/tags/v1", "/r/%s?sort=date"} {
			a, b := w.get(strings.Replace(p, "%s", "alice/priv", 1)), w.get(strings.Replace(p, "%s", "alice/none", 1))
			if a.Status != 404 || a.Status != b.Status || a.Body != b.Body {
				t.Errorf("%s: private %d, missing %d; bodies equal: %v", p, a.Status, b.Status, a.Body == b.Body)
			}
		}
		for _, q := range []string{"priv", "alice", ""} {
			if r := w.get("/explore?q=" + q); r.Status != 200 || strings.Contains(r.Body, "alice/priv") || !strings.Contains(r.Body, "alice/pub") == (q != "priv") {
				t.Errorf("explore?q=%s shows a private repository, or hides the public one", q)
			}
		}
	}
	if r := bob.post("/r/alice/priv/-/visibility", url.Values{"visibility": {"public"}}); r.Status != 404 {
		t.Errorf("bob's form on alice's private repository: %d", r.Status)
	}
	if r := bob.post("/r/alice/pub/-/delete", url.Values{"confirm": {"alice/pub"}}); r.Status != 403 {
		t.Errorf("bob deleting alice's public repository: %d", r.Status)
	}
	if r := bob.get("/"); strings.Contains(r.Body, "alice/") {
		t.Errorf("bob's dashboard shows alice's repositories")
	}
	if r := alice.get("/"); !strings.Contains(r.Body, "alice/priv") || !strings.Contains(r.Body, "alice/pub") {
		t.Errorf("alice's dashboard lacks her repositories")
	}
	if r := alice.get("/r/alice/priv/-/tags/v1"); r.Status != 200 || !strings.Contains(r.Body, "Image layers") {
		t.Errorf("alice's private tag page: %d", r.Status)
	}
	if r := bob.get("/admin"); r.Status != 404 {
		t.Errorf("bob on the admin page: %d", r.Status)
	}
}

// Hostile or wrong form fields get a clear error and change nothing.
func TestWebBadForms(t *testing.T) {
	h, _, _ := accountsHub(t, hub.Config{})
	if err := h.Deps.Auth.SetSignup(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	alice := newWebClient(t, h)
	alice.signIn("alice", "alice-pass-1")
	anon := newWebClient(t, h)
	anon.get("/signup")
	for _, tc := range []struct {
		w      *webClient
		path   string
		form   url.Values
		status int
		want   string
	}{
		{anon, "/signup", url.Values{"name": {"Alice"}, "password": {"long-enough"}, "confirm": {"long-enough"}}, 400, "lowercase"},
		{anon, "/signup", url.Values{"name": {"../etc"}, "password": {"long-enough"}, "confirm": {"long-enough"}}, 400, "lowercase"},
		{anon, "/signup", url.Values{"name": {strings.Repeat("a", 40)}, "password": {"long-enough"}, "confirm": {"long-enough"}}, 400, "39"},
		{anon, "/signup", url.Values{"name": {"carol"}, "password": {"short"}, "confirm": {"short"}}, 400, "too short"},
		{anon, "/signup", url.Values{"name": {"carol"}, "password": {"long-enough"}, "confirm": {"different"}}, 400, "differ"},
		{anon, "/signup", url.Values{"name": {"alice"}, "password": {"long-enough"}, "confirm": {"long-enough"}}, 409, "taken"},
		{alice, "/new", url.Values{"name": {"../x"}}, 400, "lowercase"},
		{alice, "/new", url.Values{"name": {"Web"}}, 400, "lowercase"},
		{alice, "/new", url.Values{"name": {"a//b"}}, 400, "lowercase"},
		{alice, "/new", url.Values{"name": {"pub"}}, 409, "already"},
		{alice, "/new", url.Values{"name": {"x"}, "description": {strings.Repeat("d", 1001)}}, 400, "1000"},
		{alice, "/settings/tokens", url.Values{"name": {""}, "scope": {"read"}}, 400, "name"},
		{alice, "/settings/tokens", url.Values{"name": {"t"}, "scope": {"admin"}}, 400, "scope"},
		{alice, "/settings/password", url.Values{"current": {"wrong"}, "password": {"long-enough"}, "confirm": {"long-enough"}}, 400, "current password"},
	} {
		r := tc.w.post(tc.path, tc.form)
		if r.Status != tc.status || !strings.Contains(r.Body, tc.want) {
			t.Errorf("POST %s %v: %d, want %d saying %q", tc.path, tc.form, r.Status, tc.status, tc.want)
		}
	}
	if users, _ := h.Deps.Meta.Users(context.Background()); len(users) != 3 {
		t.Errorf("bad sign-ups made users: %d", len(users))
	}
	if r := anon.get("/signin?next=//evil.example/x"); r.Status == 200 {
		if r := anon.post("/signin", url.Values{"name": {"bob"}, "password": {"bob-pass-12"}, "next": {"//evil.example/x"}}); r.Header.Get("Location") != "/" {
			t.Errorf("sign-in redirected to %q", r.Header.Get("Location"))
		}
	}
}

// The administrator closes sign-up; sign-ins are rate limited.
func TestWebSignupAndLimits(t *testing.T) {
	h, _, _ := accountsHub(t, hub.Config{Auth: auth.Options{Failures: 2, FailureEvery: 1 << 40}})
	ops := newWebClient(t, h)
	ops.signIn("ops", "ops-pass-12")
	if r := ops.get("/admin"); !strings.Contains(r.Body, "<h2>Integrity</h2>") || !strings.Contains(r.Body, "No pass has ended yet") {
		t.Fatalf("the admin page does not say what the scrub did:\n%s", r.Body)
	}
	if r := ops.post("/admin/signup", url.Values{"signup": {"off"}}); r.Status != 303 {
		t.Fatalf("closing sign-up: %d", r.Status)
	}
	anon := newWebClient(t, h)
	if r := anon.get("/signup"); r.Status != 403 {
		t.Fatalf("sign-up page when closed: %d", r.Status)
	}
	anon.get("/signin")
	if r := anon.post("/signup", url.Values{"name": {"carol"}, "password": {"long-enough"}, "confirm": {"long-enough"}}); r.Status != 403 {
		t.Fatalf("sign-up when closed: %d", r.Status)
	}
	for range 2 {
		anon.post("/signin", url.Values{"name": {"bob"}, "password": {"guess-guess"}})
	}
	if r := anon.post("/signin", url.Values{"name": {"bob"}, "password": {"bob-pass-12"}}); r.Status != 429 || r.Header.Get("Retry-After") == "" {
		t.Fatalf("sign-in after failures: %d", r.Status)
	}
	if r := ops.post("/admin/users", url.Values{"name": {"ops"}, "op": {"demote"}}); r.Status != 303 {
		t.Fatalf("demoting the last admin: %d", r.Status)
	}
	if u, _ := h.Deps.Meta.User(context.Background(), "ops"); !u.Admin {
		t.Fatal("the last administrator was demoted")
	}
}

// An index's tag page lists its images; each opens by digest.
func TestWebIndexPage(t *testing.T) {
	h, _, _ := accountsHub(t, hub.Config{})
	idx, err := random.Index(512, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(h.Addr + "/alice/pub:multi")
	if err := remote.WriteIndex(ref, idx, remote.WithAuth(&authn.Basic{Username: "alice", Password: "alice-pass-1"})); err != nil {
		t.Fatal(err)
	}
	w := newWebClient(t, h)
	if r := w.get("/r/alice/pub"); !strings.Contains(r.Body, ">multi</a> <span class=\"badge\">index</span>") {
		t.Fatalf("the repository page does not list the index:\n%s", r.Body)
	}
	r := w.get("/r/alice/pub/-/tags/multi")
	m, _ := idx.IndexManifest()
	if r.Status != 200 || !strings.Contains(r.Body, "multi-platform index") || len(m.Manifests) != 2 {
		t.Fatalf("index page: %d", r.Status)
	}
	for _, c := range m.Manifests {
		link := "/r/alice/pub/-/manifests/" + c.Digest.String()
		if !strings.Contains(r.Body, link) {
			t.Fatalf("the index page does not link %s", link)
		}
		if r := w.get(link); r.Status != 200 || !strings.Contains(r.Body, "Image layers") {
			t.Fatalf("%s: %d", link, r.Status)
		}
	}
	if r := w.get("/r/alice/pub/-/manifests/sha256:nothex"); r.Status != 404 {
		t.Fatalf("a malformed digest: %d", r.Status)
	}
}

// The owner's forms on a repository: description, collaborators,
// visibility, deleting one tag, and deleting the repository.
func TestWebRepositoryForms(t *testing.T) {
	h, pub, _ := accountsHub(t, hub.Config{})
	ctx := context.Background()
	w := newWebClient(t, h)
	w.signIn("alice", "alice-pass-1")
	w.get("/r/alice/pub")
	steps := []struct {
		action string
		form   url.Values
	}{
		{"description", url.Values{"description": {"Now described"}}},
		{"collaborators", url.Values{"user": {"bob"}, "role": {"write"}}},
		{"collaborators", url.Values{"user": {"nobody"}, "role": {"read"}}},
		{"visibility", url.Values{"visibility": {"private"}}},
		{"tags/delete", url.Values{"tag": {"v1"}}},
		{"delete", url.Values{"confirm": {"wrong/name"}}},
	}
	for _, st := range steps {
		if r := w.post("/r/alice/pub/-/"+st.action, st.form); r.Status != 303 {
			t.Fatalf("%s: %d %s", st.action, r.Status, r.Body)
		}
	}
	repo, err := h.Deps.Meta.Repository(ctx, "alice/pub")
	if err != nil || repo.Description != "Now described" || repo.Visibility != "private" {
		t.Fatalf("after the forms: %+v, %v", repo, err)
	}
	if role, _ := h.Deps.Meta.CollaboratorRole(ctx, "alice/pub", "bob"); role != "write" {
		t.Fatalf("bob's role: %q", role)
	}
	if _, err := h.Deps.Meta.Manifest(ctx, "alice/pub", "v1"); err == nil {
		t.Fatal("the deleted tag still resolves")
	}
	if _, err := h.Deps.Meta.Manifest(ctx, "alice/pub", pub.Digest.String()); err != nil {
		t.Fatalf("deleting a tag deleted its manifest: %v", err)
	}
	if r := w.post("/r/alice/pub/-/delete", url.Values{"confirm": {"alice/pub"}}); r.Status != 303 || r.Header.Get("Location") != "/" {
		t.Fatalf("delete: %d", r.Status)
	}
	if _, err := h.Deps.Meta.Repository(ctx, "alice/pub"); err == nil {
		t.Fatal("the repository outlived its deletion")
	}
}

// A repository page shows its overview, written in Markdown by those who
// may push and rendered safe for everyone, and how often and when it was
// last pulled (manifest GETs, counted in memory and recorded in batches).
func TestWebOverviewAndPulls(t *testing.T) {
	h, pub, _ := accountsHub(t, hub.Config{})
	ctx := context.Background()
	if err := h.Deps.Meta.SetCollaborator(ctx, "alice/pub", "bob", meta.RoleWrite); err != nil {
		t.Fatal(err)
	}
	md := "# Hello\n\nRun **it**:\n\n```sh\ndocker run alice/pub\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n" +
		"<script>alert(1)</script> [click](javascript:alert(2)) <img src=x onerror=alert(3)> <a href=\"/x\" onclick=\"alert(4)\">x</a>"
	bob := newWebClient(t, h)
	bob.signIn("bob", "bob-pass-12")
	if page := bob.get("/r/alice/pub"); !strings.Contains(page.Body, `action="/r/alice/pub/-/overview"`) {
		t.Fatal("a write collaborator is not offered the overview's form")
	}
	if r := bob.post("/r/alice/pub/-/overview", url.Values{"overview": {md}}); r.Status != 303 {
		t.Fatalf("a write collaborator saving the overview: %d %s", r.Status, r.Body)
	}
	if r := bob.post("/r/alice/pub/-/description", url.Values{"description": {"mine now"}}); r.Status != 403 {
		t.Fatalf("a write collaborator changing the description: %d", r.Status)
	}
	if r := bob.post("/r/alice/pub/-/overview", url.Values{"overview": {strings.Repeat("x", web.MaxOverview+1)}}); r.Status != 303 {
		t.Fatalf("an overview too long: %d", r.Status)
	}
	carol := newWebClient(t, h) // signed in, may pull, may not push
	h.Deps.Auth.CreateUser(ctx, "carol", "carol-pass-1", false)
	carol.signIn("carol", "carol-pass-1")
	if r := carol.post("/r/alice/pub/-/overview", url.Values{"overview": {"defaced"}}); r.Status != 403 {
		t.Fatalf("a user who may not push saving the overview: %d", r.Status)
	}
	if got, _ := h.Deps.Meta.Overview(ctx, "alice/pub"); got != strings.TrimSpace(md) {
		t.Fatalf("overview stored: %q", got)
	}

	for _, method := range []string{"GET", "GET", "HEAD"} {
		if r := call(t, method, h.URL()+"/v2/alice/pub/manifests/v1", "", nil); r.Status != 200 {
			t.Fatalf("%s manifest: %d", method, r.Status)
		}
	}
	call(t, "GET", h.URL()+"/v2/alice/pub/blobs/"+pub.Layer.String(), "", nil) // blobs are not pulls
	if err := h.Deps.Pulls.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	anon := newWebClient(t, h)
	page := anon.get("/r/alice/pub")
	for _, want := range []string{"<h1>Hello</h1>", "<strong>it</strong>", "<table>", "<code class=\"language-sh\">docker run alice/pub", "2 pulls, the last"} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if explore := anon.get("/explore?q=alice"); !strings.Contains(explore.Body, "· 2 pulls") {
		t.Error("explore does not show the pulls")
	}
	for _, bad := range []string{"<script>alert", "javascript:", "onerror", "onclick", `action="/r/alice/pub/-/overview"`} {
		if strings.Contains(page.Body, bad) {
			t.Errorf("the page shows an anonymous visitor %q", bad)
		}
	}
}
