package hub_test

import (
	"context"
	"encoding/base64"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub"
	"github.com/strata-dev/strata/internal/hub/access"
	"github.com/strata-dev/strata/internal/hub/auth"
	"github.com/strata-dev/strata/internal/hub/meta"
	"github.com/strata-dev/strata/internal/hub/webhook"
	"github.com/strata-dev/strata/internal/testutil"
)

// An organization made and run on the website, as its owner would: the
// name is checked, members and teams added, a repository made in its
// namespace and granted; then the team's member pushes with a registry
// client, others see only what they may, and every change is audited.
func TestOrgWebFlow(t *testing.T) {
	h, _, _ := accountsHub(t, hub.Config{})
	ctx := context.Background()
	for _, u := range [][2]string{{"olga", "olga-pass-12"}, {"mia", "mia-pass-123"}, {"will", "will-pass-12"}} {
		if err := h.Deps.Auth.CreateUser(ctx, u[0], u[1], false); err != nil {
			t.Fatal(err)
		}
	}
	olga, mia, will, bob, anon := newWebClient(t, h), newWebClient(t, h), newWebClient(t, h), newWebClient(t, h), newWebClient(t, h)
	olga.signIn("olga", "olga-pass-12")
	mia.signIn("mia", "mia-pass-123")
	will.signIn("will", "will-pass-12")
	bob.signIn("bob", "bob-pass-12")

	// Names: a user's rules, and none a user or an organization has.
	olga.get("/orgs/new")
	for name, want := range map[string]int{"Acme": 400, "a": 400, "-acme": 400, "ac--me": 400, "bob": 409,
		strings.Repeat("a", 40): 400, "acme/x": 400, "<script>": 400} {
		if r := olga.post("/orgs/new", url.Values{"name": {name}}); r.Status != want {
			t.Errorf("an organization called %q: %d, want %d", name, r.Status, want)
		}
	}
	if r := olga.post("/orgs/new", url.Values{"name": {"acme"}, "csrf": {"forged"}}); r.Status != 403 {
		t.Errorf("a forged form: %d", r.Status)
	}
	if r := anon.post("/orgs/new", url.Values{"name": {"acme"}}); r.Status == 303 {
		t.Errorf("a signed-out visitor made an organization")
	}
	if r := olga.post("/orgs/new", url.Values{"name": {"acme"}}); r.Status != 303 || r.Header.Get("Location") != "/o/acme" {
		t.Fatalf("making acme: %d %s", r.Status, r.Header.Get("Location"))
	}
	if r := bob.post("/orgs/new", url.Values{"name": {"acme"}}); r.Status != 409 {
		t.Errorf("acme again: %d", r.Status)
	}

	// The owner adds a member, a team with will, a private repository, and a grant.
	olga.get("/o/acme")
	for _, f := range []struct {
		action string
		form   url.Values
	}{
		{"members", url.Values{"user": {"mia"}, "role": {"member"}}},
		{"teams", url.Values{"team": {"devs"}, "description": {"builders"}}},
		{"team/members", url.Values{"team": {"devs"}, "user": {"will"}}},
	} {
		if r := olga.post("/o/acme/-/"+f.action, f.form); r.Status != 303 {
			t.Fatalf("%s: %d %s", f.action, r.Status, r.Body)
		}
	}
	// Hostile team and member forms change nothing and say why.
	for _, f := range []struct {
		action string
		form   url.Values
	}{
		{"teams", url.Values{"team": {"Devs"}}}, {"teams", url.Values{"team": {"../x"}}}, {"teams", url.Values{"team": {"<b>x</b>"}}},
		{"teams", url.Values{"team": {strings.Repeat("d", 40)}}}, {"teams", url.Values{"team": {"devs"}}},
		{"teams", url.Values{"team": {"qa"}, "description": {strings.Repeat("x", 201)}}},
		{"members", url.Values{"user": {"nobody"}}}, {"members", url.Values{"user": {"<script>"}}},
		{"team/members", url.Values{"team": {"nobody"}, "user": {"bob"}}}, {"team/members", url.Values{"team": {"devs"}, "user": {"nobody"}}},
		{"members/remove", url.Values{"user": {"bob"}}}, {"nonsense", url.Values{}},
	} {
		r := olga.post("/o/acme/-/"+f.action, f.form)
		if f.action == "nonsense" {
			if r.Status != 404 {
				t.Errorf("an unknown form: %d", r.Status)
			}
			continue
		}
		next := olga.get(r.Header.Get("Location"))
		if r.Status != 303 || !strings.Contains(next.Body, `class="notice ok"`) {
			t.Errorf("%s %v: %d, no message", f.action, f.form, r.Status)
		}
	}
	if teams, _ := h.Deps.Meta.Teams(ctx, "acme"); len(teams) != 1 {
		t.Errorf("hostile forms made teams: %+v", teams)
	}
	if m, _ := h.Deps.Meta.Members(ctx, "acme"); len(m) != 3 {
		t.Errorf("hostile forms changed the members: %+v", m)
	}
	if r := olga.get("/new?namespace=acme"); !strings.Contains(r.Body, `<option value="acme" selected>`) {
		t.Fatalf("the new repository page offers no acme: %s", r.Body)
	}
	if r := olga.post("/new", url.Values{"namespace": {"acme"}, "name": {"app"}, "visibility": {"private"}}); r.Status != 303 {
		t.Fatalf("making acme/app: %d %s", r.Status, r.Body)
	}
	if r := mia.post("/new", url.Values{"namespace": {"acme"}, "name": {"mine"}}); r.Status != 403 {
		t.Errorf("a member made a repository in acme: %d", r.Status)
	}
	olga.get("/o/acme/t/devs")
	if r := olga.post("/o/acme/-/team/grants", url.Values{"team": {"devs"}, "repository": {"acme/app"}, "role": {"write"}}); r.Status != 303 {
		t.Fatalf("granting: %d %s", r.Status, r.Body)
	}
	for what, form := range map[string]url.Values{
		"another owner's repository": {"team": {"devs"}, "repository": {"alice/pub"}, "role": {"read"}},
		"an unknown role":            {"team": {"devs"}, "repository": {"acme/app"}, "role": {"owner"}},
		"an unknown team":            {"team": {"nobody"}, "repository": {"acme/app"}, "role": {"read"}},
	} {
		olga.post("/o/acme/-/team/grants", form)
		if g, _ := h.Deps.Meta.Grants(ctx, "acme", "devs"); len(g) != 1 || g[0].Role != meta.RoleWrite {
			t.Errorf("granting %s changed the grants: %v", what, g)
		}
	}

	// The repository's managers see which teams have it; others do not.
	if page := olga.get("/r/acme/app"); !strings.Contains(page.Body, `href="/o/acme/t/devs"`) {
		t.Errorf("acme/app's page names no team for its owner")
	}
	if page := will.get("/r/acme/app"); strings.Contains(page.Body, `id="teams"`) {
		t.Errorf("a team's write member sees the teams of acme/app")
	}

	// will pushes to acme/app with a registry client; mia (no team) may not pull it.
	img := randomImage(t, 1)
	if err := pushAs(t, h.Addr+"/acme/app:v1", "will", "will-pass-12", img); err != nil {
		t.Fatalf("a team's write member pushes: %v", err)
	}
	if err := pushAs(t, h.Addr+"/acme/app:v2", "mia", "mia-pass-123", img); err == nil {
		t.Fatal("a member in no team pushed")
	}

	// Pages show each visitor what they may see.
	for who, c := range map[string]*webClient{"olga": olga, "will": will, "mia": mia, "bob": bob, "anonymous": anon} {
		r := c.get("/o/acme")
		if r.Status != 200 {
			t.Fatalf("%s: /o/acme: %d", who, r.Status)
		}
		member := who == "olga" || who == "will" || who == "mia"
		if seen := strings.Contains(r.Body, "acme/app"); seen != (who == "olga" || who == "will") {
			t.Errorf("%s sees acme/app on the organization's page: %v", who, seen)
		}
		if seen := strings.Contains(r.Body, `id="members"`); seen != member {
			t.Errorf("%s sees the members: %v", who, seen)
		}
		if seen := strings.Contains(r.Body, `/o/acme/-/members"`); seen != (who == "olga") {
			t.Errorf("%s gets the owner's forms: %v", who, seen)
		}
		if r := c.get("/o/acme/t/devs"); (r.Status == 200) != member {
			t.Errorf("%s: the team's page: %d", who, r.Status)
		}
		if r := c.get("/r/acme/app"); (r.Status == 200) != (who == "olga" || who == "will") {
			t.Errorf("%s: acme/app's page: %d", who, r.Status)
		}
		if r := c.get("/"); who != "anonymous" && strings.Contains(r.Body, "acme/app") != (who == "olga" || who == "will") {
			t.Errorf("%s's dashboard lists acme/app: %v", who, !(who == "olga" || who == "will"))
		}
		if r := c.get("/explore?q=acme"); strings.Contains(r.Body, "acme/app") {
			t.Errorf("%s: explore lists the private acme/app", who)
		}
	}
	if r := olga.get("/o/nobody"); r.Status != 404 {
		t.Errorf("an unknown organization: %d", r.Status)
	}

	// Others' forms change nothing: members get a 403, outsiders a 404.
	for who, want := range map[string]int{"mia": 403, "will": 403, "bob": 404} {
		c := map[string]*webClient{"mia": mia, "will": will, "bob": bob}[who]
		for _, f := range []url.Values{{"user": {who}, "role": {"owner"}}} {
			if r := c.post("/o/acme/-/members", f); r.Status != want {
				t.Errorf("%s makes themselves an owner: %d, want %d", who, r.Status, want)
			}
		}
		if r := c.post("/o/acme/-/team/grants", url.Values{"team": {"devs"}, "repository": {"acme/app"}, "role": {"admin"}}); r.Status != want {
			t.Errorf("%s raises a grant: %d, want %d", who, r.Status, want)
		}
	}
	if r, _ := h.Deps.Meta.MemberRole(ctx, "acme", "mia"); r != meta.OrgMember {
		t.Fatalf("mia is %q", r)
	}

	// The last owner stays; an organization with repositories stays.
	olga.get("/o/acme")
	olga.post("/o/acme/-/members/remove", url.Values{"user": {"olga"}})
	olga.post("/o/acme/-/delete", url.Values{"confirm": {"acme"}})
	if r, _ := h.Deps.Meta.MemberRole(ctx, "acme", "olga"); r != meta.OrgOwner {
		t.Fatal("the last owner left")
	}
	if r := olga.post("/o/acme/-/team/members/remove", url.Values{"team": {"devs"}, "user": {"will"}}); r.Status != 303 {
		t.Fatalf("removing will: %d", r.Status)
	}
	if err := pushAs(t, h.Addr+"/acme/app:v3", "will", "will-pass-12", img); err == nil {
		t.Fatal("will pushed after leaving the team")
	}

	// The owner makes what pushes make in acme public from now on.
	olga.get("/o/acme/settings")
	if r := olga.post("/o/acme/-/visibility", url.Values{"visibility": {"public"}}); r.Status != 303 {
		t.Fatalf("the default visibility: %d", r.Status)
	}
	if err := pushAs(t, h.Addr+"/acme/open:1", "olga", "olga-pass-12", img); err != nil {
		t.Fatal(err)
	}
	if r, _ := h.Deps.Meta.Repository(ctx, "acme/open"); r.Visibility != meta.Public {
		t.Fatalf("acme/open: %+v", r)
	}

	var actions []string
	log, _ := h.Deps.Meta.AuditLog(ctx, meta.AuditQuery{N: 100})
	for _, e := range log {
		if strings.HasPrefix(e.Action, "org.") || strings.HasPrefix(e.Action, "team.") {
			actions = append(actions, e.Action+" "+e.Actor+" "+e.Details["user"]+e.Details["repository"])
		}
	}
	slices.Reverse(actions)
	want := []string{"org.create olga ", "org.member.set olga mia", "team.create olga ", "team.member.add olga will",
		"team.grant olga acme/app", "team.member.remove olga will", "org.visibility olga "}
	if !slices.Equal(actions, want) {
		t.Errorf("audit:\n%s\nwant\n%s", strings.Join(actions, "\n"), strings.Join(want, "\n"))
	}
}

// An organization's token logs in with the organization's name only;
// bearer tokens made with it end when it is revoked; an expired one
// opens nothing; sign-ins with it are audited with the token's id.
func TestOrgTokens(t *testing.T) {
	h, _, _ := orgHub(t, hub.Config{})
	ctx := context.Background()
	secret, id, err := h.Deps.Auth.CreateOrgToken(ctx, "acme", "ci", "olga", auth.ScopeReadWrite, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []auth.Scope{auth.ScopeReadWriteDelete, "", "admin"} {
		if _, _, err := h.Deps.Auth.CreateOrgToken(ctx, "acme", "ci", "olga", bad, time.Time{}); !errdefs.IsInvalidArgument(err) {
			t.Errorf("an organization token of scope %q: %v", bad, err)
		}
	}
	scope := "repository:acme/priv:pull,push"
	for _, user := range []string{"olga", "globex", "ACME", "acme/ci"} {
		if _, r := getToken(t, h, user, secret, scope); r.Status != 401 {
			t.Errorf("acme's token as %q: %d", user, r.Status)
		}
	}
	tr, r := getToken(t, h, "acme", secret, scope)
	if r.Status != 200 || tr.RefreshToken != "" {
		t.Fatalf("acme's token: %d %+v", r.Status, tr)
	}
	if _, claims := claimsOf(t, tr.Token); !slices.Equal(accessOf(claims), []string{scope}) {
		t.Fatalf("granted %v", accessOf(claims))
	}
	if r := call(t, "GET", h.URL()+"/v2/acme/priv/tags/list", tr.Token, nil); r.Status != 200 {
		t.Fatalf("listing tags with the bearer token: %d", r.Status)
	}
	if err := pushAs(t, h.Addr+"/acme/ci:1", "acme", secret, randomImage(t, 1)); err != nil {
		t.Fatalf("pushing a new repository with the token: %v", err)
	}
	if repo, _ := h.Deps.Meta.Repository(ctx, "acme/ci"); repo.Owner != "acme" || repo.Visibility != meta.Private {
		t.Fatalf("acme/ci: %+v", repo)
	}
	id2, err := h.Deps.Auth.Basic(ctx, "127.0.0.1", "acme", secret)
	if err != nil {
		t.Fatal(err)
	}
	for _, action := range []access.Action{access.ManageNamespace, access.Delete} {
		if ok, err := h.Deps.Auth.May(ctx, id2, "acme/priv", action); ok || err != nil {
			t.Errorf("acme's token may %s acme/priv: %v %v", action, ok, err)
		}
	}
	if ok, _ := h.Deps.Auth.May(ctx, id2, "acme", access.ManageNamespace); ok {
		t.Error("acme's token manages the namespace acme")
	}
	log, _ := h.Deps.Meta.AuditLog(ctx, meta.AuditQuery{Action: meta.AuditSignIn, Actor: "acme"})
	if len(log) == 0 || log[0].Details["org_token"] != strconv.FormatInt(id, 10) {
		t.Fatalf("the sign-in is not audited with the token: %+v", log)
	}
	if err := h.Deps.Meta.DeleteOrgToken(ctx, "acme", id); err != nil {
		t.Fatal(err)
	}
	if r := call(t, "GET", h.URL()+"/v2/acme/priv/tags/list", tr.Token, nil); r.Status != 401 {
		t.Fatalf("a bearer token of a revoked organization token: %d", r.Status)
	}
	if _, r := getToken(t, h, "acme", secret, scope); r.Status != 401 {
		t.Fatalf("a revoked organization token: %d", r.Status)
	}
	old, _, _ := h.Deps.Auth.CreateOrgToken(ctx, "acme", "old", "olga", auth.ScopeRead, time.Now().Add(time.Second))
	if _, r := getToken(t, h, "acme", old, scope); r.Status != 200 {
		t.Fatalf("a fresh token: %d", r.Status)
	}
	time.Sleep(1100 * time.Millisecond)
	if _, r := getToken(t, h, "acme", old, scope); r.Status != 401 {
		t.Fatalf("an expired organization token: %d", r.Status)
	}
}

// docker logs in with an organization's token for CI: the organization's
// name and the token; it pushes and pulls there, deletes nothing, and
// touches no other namespace.
func TestDockerOrgToken(t *testing.T) {
	docker := testutil.StartDocker(t)
	h, _, _ := orgHub(t, hub.Config{})
	secret, _, err := h.Deps.Auth.CreateOrgToken(context.Background(), "acme", "ci", "olga", auth.ScopeReadWrite, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if err := pushAs(t, h.Addr+"/alice/bb:1", "alice", "alice-pass-1", busybox(t)); err != nil {
		t.Fatal(err)
	}
	cmd := docker.Command("login", "-u", "acme", "--password-stdin", h.Addr)
	cmd.Stdin = strings.NewReader(secret)
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "Login Succeeded") {
		t.Fatalf("docker login with acme's token: %v\n%s", err, out)
	}
	docker.Run(t, "pull", h.Addr+"/alice/bb:1")
	docker.Run(t, "tag", h.Addr+"/alice/bb:1", h.Addr+"/acme/bb:ci")
	docker.Run(t, "push", h.Addr+"/acme/bb:ci")
	docker.Run(t, "rmi", h.Addr+"/acme/bb:ci")
	docker.Run(t, "pull", h.Addr+"/acme/bb:ci")
	docker.Run(t, "tag", h.Addr+"/alice/bb:1", h.Addr+"/alice/bb:2")
	if out, err := docker.Command("push", h.Addr+"/alice/bb:2").CombinedOutput(); err == nil || !strings.Contains(string(out), "denied") {
		t.Fatalf("acme's token pushed to alice: %v\n%s", err, out)
	}
	if r := call(t, "DELETE", h.URL()+"/v2/acme/bb/manifests/ci", "", nil, "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("acme:"+secret))); r.Status != 401 {
		t.Fatalf("acme's token deleted: %d", r.Status)
	}
}

// An organization's settings page makes and revokes its tokens, for its
// owners only: a member gets a 403, anyone else a 404, and their forms
// make nothing.
func TestOrgTokensWeb(t *testing.T) {
	h, _, _ := orgHub(t, hub.Config{})
	ctx := context.Background()
	clients := map[string]*webClient{}
	for _, u := range [][2]string{{"olga", "olga-pass-12"}, {"mia", "mia-pass-123"}, {"adam", "adam-pass-12"}, {"bob", "bob-pass-12"}} {
		clients[u[0]] = newWebClient(t, h)
		clients[u[0]].signIn(u[0], u[1])
	}
	for who, want := range map[string]int{"olga": 200, "mia": 403, "adam": 403, "bob": 404} {
		c := clients[who]
		if r := c.get("/o/acme/settings"); r.Status != want {
			t.Errorf("%s: the settings page: %d, want %d", who, r.Status, want)
		}
		if who == "olga" {
			continue
		}
		c.get("/o/acme")
		if r := c.post("/o/acme/-/tokens", url.Values{"name": {"mine"}, "scope": {"read-write"}, "days": {"0"}}); r.Status != want {
			t.Errorf("%s makes a token: %d, want %d", who, r.Status, want)
		}
	}
	if list, _ := h.Deps.Meta.OrgTokens(ctx, "acme"); len(list) != 0 {
		t.Fatalf("others made tokens: %+v", list)
	}
	olga := clients["olga"]
	olga.get("/o/acme/settings")
	if r := olga.post("/o/acme/-/tokens", url.Values{"name": {"ci"}, "scope": {"read-write-delete"}, "days": {"30"}}); r.Status != 400 {
		t.Errorf("a token that deletes: %d", r.Status)
	}
	r := olga.post("/o/acme/-/tokens", url.Values{"name": {"ci"}, "scope": {"read"}, "days": {"30"}})
	secret := regexp.MustCompile(`strata_oat_[a-z0-9]+`).FindString(r.Body)
	if r.Status != 200 || secret == "" || !strings.Contains(r.Body, "-u acme") {
		t.Fatalf("making a token: %d %s", r.Status, r.Body)
	}
	if _, r := getToken(t, h, "acme", secret, "repository:acme/priv:pull"); r.Status != 200 {
		t.Fatalf("the new token: %d", r.Status)
	}
	list, _ := h.Deps.Meta.OrgTokens(ctx, "acme")
	if len(list) != 1 || list[0].CreatedBy != "olga" || list[0].ExpiresAt.IsZero() {
		t.Fatalf("tokens: %+v", list)
	}
	id := strconv.FormatInt(list[0].ID, 10)
	for _, who := range []string{"mia", "bob"} {
		clients[who].post("/o/acme/-/tokens/revoke", url.Values{"id": {id}})
	}
	if r := olga.post("/o/acme/-/tokens/revoke", url.Values{"id": {id}}); r.Status != 303 {
		t.Fatalf("revoking: %d", r.Status)
	}
	if _, r := getToken(t, h, "acme", secret, "repository:acme/priv:pull"); r.Status != 401 {
		t.Fatalf("the revoked token: %d", r.Status)
	}
	log, _ := h.Deps.Meta.AuditLog(ctx, meta.AuditQuery{Actor: "olga"})
	var actions []string
	for _, e := range log {
		if strings.HasPrefix(e.Action, "org.token") {
			actions = append(actions, e.Action+" "+e.Details["id"])
		}
	}
	if !slices.Equal(actions, []string{"org.token.revoke " + id, "org.token.create " + id}) {
		t.Fatalf("audit: %v", actions)
	}
}

// An organization's webhook, made on its settings page, hears every
// repository of its namespace (pushed by a team's member, or made by the
// organization's token) and nothing outside it, signed with its secret;
// a repository's own hook still gets its own delivery; a delivery is sent
// again from the settings page; only owners make, redeliver or delete.
func TestOrgWebhooks(t *testing.T) {
	h, _, _ := orgHub(t, hub.Config{Webhooks: webhook.Options{AllowPrivate: true, Backoff: 20 * time.Millisecond}})
	ctx := context.Background()
	orgRC, repoRC := newReceiver(t, "org-secret", 0), newReceiver(t, "repo-secret", 0)
	clients := map[string]*webClient{}
	for _, u := range [][2]string{{"olga", "olga-pass-12"}, {"mia", "mia-pass-123"}, {"adam", "adam-pass-12"}, {"bob", "bob-pass-12"}} {
		clients[u[0]] = newWebClient(t, h)
		clients[u[0]].signIn(u[0], u[1])
	}
	olga := clients["olga"]
	for who, want := range map[string]int{"mia": 403, "adam": 403, "bob": 404} {
		c := clients[who]
		c.get("/o/acme")
		if r := c.post("/o/acme/-/webhooks", url.Values{"url": {orgRC.URL}, "events": {webhook.Push}}); r.Status != want {
			t.Errorf("%s adds acme's webhook: %d, want %d", who, r.Status, want)
		}
	}
	olga.get("/o/acme/settings")
	if r := olga.post("/o/acme/-/webhooks", url.Values{"url": {orgRC.URL + "/acme"}, "secret": {orgRC.secret},
		"events": {webhook.Push, webhook.TagDelete}}); r.Status != 303 || r.Header.Get("Location") != "/o/acme/settings" {
		t.Fatalf("adding acme's webhook: %d %s", r.Status, r.Header.Get("Location"))
	}
	// adam (team admin) adds a hook on acme/priv itself.
	adam := clients["adam"]
	adam.get("/r/acme/priv")
	if r := adam.post("/r/acme/priv/-/webhooks", url.Values{"url": {repoRC.URL}, "secret": {repoRC.secret}, "events": {webhook.Push}}); r.Status != 303 {
		t.Fatalf("a team admin adds a repository's webhook: %d", r.Status)
	}
	hooks, _ := h.Deps.Meta.OrgHooks(ctx, "acme")
	if len(hooks) != 1 || hooks[0].CreatedBy != "olga" {
		t.Fatalf("acme's hooks: %+v", hooks)
	}

	if err := pushAs(t, h.Addr+"/acme/priv:v2", "will", "will-pass-12", randomImage(t, 1)); err != nil {
		t.Fatal(err)
	}
	token, _, _ := h.Deps.Auth.CreateOrgToken(ctx, "acme", "ci", "olga", auth.ScopeReadWrite, time.Time{})
	if err := pushAs(t, h.Addr+"/acme/fresh:1", "acme", token, randomImage(t, 1)); err != nil {
		t.Fatal(err)
	}
	if err := pushAs(t, h.Addr+"/alice/pub:v9", "alice", "alice-pass-1", randomImage(t, 1)); err != nil {
		t.Fatal(err)
	}
	h.Deps.Webhooks.Wait()
	var got []string
	for _, p := range orgRC.wait(2) {
		got = append(got, p.Event+" "+p.Repository+":"+strings.Join(p.Tags, ",")+" by "+p.Actor)
	}
	slices.Sort(got)
	if want := []string{"push acme/fresh:1 by acme", "push acme/priv:v2 by will"}; !slices.Equal(got, want) {
		t.Fatalf("acme's hook got %v, want %v", got, want)
	}
	if p := repoRC.wait(1); len(p) != 1 || p[0].Repository != "acme/priv" {
		t.Fatalf("acme/priv's own hook got %+v", p)
	}

	// The settings page shows the deliveries; one is sent again from there, by owners only.
	page := olga.get("/o/acme/settings")
	if !strings.Contains(page.Body, orgRC.URL+"/acme") || strings.Count(page.Body, `class="delivery"`) != 2 {
		t.Fatalf("the settings page's webhooks:\n%s", page.Body)
	}
	dels, _ := h.Deps.Meta.Deliveries(ctx, hooks[0].ID, 10)
	id := strconv.FormatInt(dels[0].ID, 10)
	if r := clients["mia"].post("/o/acme/-/webhooks/redeliver", url.Values{"id": {id}}); r.Status != 403 {
		t.Errorf("mia redelivers: %d", r.Status)
	}
	repoHooks, _ := h.Deps.Meta.Hooks(ctx, "acme/priv")
	repoDels, _ := h.Deps.Meta.Deliveries(ctx, repoHooks[0].ID, 10)
	if r := olga.post("/o/acme/-/webhooks/redeliver", url.Values{"id": {strconv.FormatInt(repoDels[0].ID, 10)}}); r.Status != 303 {
		t.Fatalf("redelivering a repository hook's delivery through acme: %d", r.Status)
	}
	if r := olga.post("/o/acme/-/webhooks/redeliver", url.Values{"id": {id}}); r.Status != 303 {
		t.Fatalf("redelivering: %d", r.Status)
	}
	if n := len(orgRC.wait(3)); n != 3 {
		t.Fatalf("after a redelivery: %d", n)
	}
	h.Deps.Webhooks.Wait()
	if n := len(repoRC.wait(1)); n != 1 {
		t.Fatalf("a repository hook's delivery was sent again through the organization: %d", n)
	}
	if r := olga.post("/o/acme/-/webhooks/delete", url.Values{"id": {strconv.FormatInt(repoHooks[0].ID, 10)}}); r.Status != 303 {
		t.Fatalf("deleting through acme: %d", r.Status)
	}
	if left, _ := h.Deps.Meta.Hooks(ctx, "acme/priv"); len(left) != 1 {
		t.Fatal("a repository's hook was deleted through its organization's settings")
	}
	if r := olga.post("/o/acme/-/webhooks/delete", url.Values{"id": {strconv.FormatInt(hooks[0].ID, 10)}}); r.Status != 303 {
		t.Fatalf("deleting: %d", r.Status)
	}
	if left, _ := h.Deps.Meta.OrgHooks(ctx, "acme"); len(left) != 0 {
		t.Fatalf("acme's hooks after deleting: %+v", left)
	}
	log, _ := h.Deps.Meta.AuditLog(ctx, meta.AuditQuery{Actor: "olga"})
	var actions []string
	for _, e := range log {
		if strings.HasPrefix(e.Action, "webhook.") {
			actions = append(actions, e.Action+" "+e.Target)
		}
	}
	if !slices.Equal(actions, []string{"webhook.delete acme", "webhook.create acme"}) {
		t.Fatalf("audit: %v", actions)
	}
}
