package hub_test

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/strata-dev/strata/internal/hub"
	"github.com/strata-dev/strata/internal/hub/meta"
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

	var actions []string
	log, _ := h.Deps.Meta.AuditLog(ctx, meta.AuditQuery{N: 100})
	for _, e := range log {
		if strings.HasPrefix(e.Action, "org.") || strings.HasPrefix(e.Action, "team.") {
			actions = append(actions, e.Action+" "+e.Actor+" "+e.Details["user"]+e.Details["repository"])
		}
	}
	slices.Reverse(actions)
	want := []string{"org.create olga ", "org.member.set olga mia", "team.create olga ", "team.member.add olga will",
		"team.grant olga acme/app", "team.member.remove olga will"}
	if !slices.Equal(actions, want) {
		t.Errorf("audit:\n%s\nwant\n%s", strings.Join(actions, "\n"), strings.Join(want, "\n"))
	}
}
