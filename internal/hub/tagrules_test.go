package hub_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/strata-dev/strata/internal/hub"
	"github.com/strata-dev/strata/internal/hub/meta"
	"github.com/strata-dev/strata/internal/hub/mirror"
	"github.com/strata-dev/strata/internal/hub/mirror/upstream"
	"github.com/strata-dev/strata/internal/hub/webhook"
	"github.com/strata-dev/strata/internal/testutil"
)

// TestImmutableTags: with a namespace's rule v*, crane may push a v tag
// once (and again where it points), but neither moves it to another
// image nor deletes it, by tag or by digest, and says why.
func TestImmutableTags(t *testing.T) {
	crane := testutil.Tool(t, "crane")
	h := testutil.StartHub(t, hub.Config{})
	ctx := context.Background()
	if err := h.Deps.Meta.SetTagPolicy(ctx, meta.TagPolicy{Scope: meta.ScopeNamespace, Name: "lib",
		Immutable: []string{"v*"}, UpdatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	repo := h.Addr + "/lib/app"
	one := push(t, repo+":build-1", randomImage(t, 1))
	push(t, repo+":build-2", randomImage(t, 1))
	run := func(args ...string) string { return strings.TrimSpace(testutil.Run(t, nil, crane, args...)) }
	refused := func(want string, args ...string) {
		t.Helper()
		_, err := testutil.RunErr(nil, crane, args...)
		if err == nil {
			t.Fatalf("crane %v succeeded", args)
		}
		msg := err.(*testutil.RunError).Stderr
		if !strings.Contains(msg, "DENIED: "+want) || !strings.Contains(msg, `immutable (rule "v*" of namespace lib)`) {
			t.Fatalf("crane %v says %q; want %q and the rule named", args, msg, want)
		}
	}
	run("copy", repo+":build-1", repo+":v1")
	run("copy", repo+":build-1", repo+":v1") // the same image again: nothing moves
	refused("tag v1 of lib/app is immutable", "copy", repo+":build-2", repo+":v1")
	refused("tag v1 of lib/app is immutable", "delete", repo+":v1")
	refused("manifest "+one.String()+" of lib/app is tagged v1", "delete", repo+"@"+one.String())
	if got := run("digest", repo+":v1"); got != one.String() {
		t.Fatalf("v1 is %s after the refusals, want %s", got, one)
	}
	run("copy", repo+":build-2", repo+":v2")
	run("delete", repo+":build-2") // a tag no rule covers
}

// TestRetention: keep the 2 most recent tags and drop untagged manifests,
// with v* immutable. The dry run lists what would go and deletes nothing;
// the scheduler's pass deletes it through the API's path (the audit log
// says so, the repository's webhook hears of each tag), and the registry
// API no longer serves it.
// On SQLite and PostgreSQL.
func TestRetention(t *testing.T) {
	hooks := webhook.Options{AllowPrivate: true}
	t.Run("sqlite", func(t *testing.T) { testRetention(t, hub.Config{GCGrace: time.Millisecond, Webhooks: hooks}) })
	t.Run("postgres", func(t *testing.T) {
		testRetention(t, hub.Config{GCGrace: time.Millisecond, Webhooks: hooks, Database: testutil.PostgresDB(t)})
	})
}

func testRetention(t *testing.T, cfg hub.Config) {
	crane := testutil.Tool(t, "crane")
	h := testutil.StartHub(t, cfg)
	ctx := context.Background()
	repo := h.Addr + "/lib/app"
	run := func(args ...string) string { return strings.TrimSpace(testutil.Run(t, nil, crane, args...)) }
	var digests []string
	for _, tag := range []string{"1", "2", "3", "4", "tmp"} {
		digests = append(digests, push(t, repo+":"+tag, randomImage(t, 1)).String())
		if tag == "1" {
			run("tag", repo+":1", "v1")
		}
		time.Sleep(2 * time.Millisecond)
	}
	run("delete", repo+":tmp") // its manifest stays, untagged
	for _, p := range []meta.TagPolicy{
		{Scope: meta.ScopeNamespace, Name: "lib", Immutable: []string{"v*"}, UpdatedAt: time.Now()},
		{Scope: meta.ScopeRepository, Name: "lib/app", KeepLast: 2, DropUntagged: true, UpdatedAt: time.Now()},
	} {
		if err := h.Deps.Meta.SetTagPolicy(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	rc := newReceiver(t, "retention-secret", 0)
	if _, err := h.Deps.Meta.CreateHook(ctx, meta.Hook{Repository: "lib/app", URL: rc.URL, Secret: "retention-secret",
		Events: []string{webhook.TagDelete}, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	all := "1\n2\n3\n4\nv1"
	if got := run("ls", repo); got != all {
		t.Fatalf("tags before: %q", got)
	}

	plans, res, err := hub.Retention(cfg, h.Deps).Run(ctx, true)
	if err != nil || len(plans) != 1 || res.Tags != 0 {
		t.Fatalf("dry run: %+v, %+v, %v", plans, res, err)
	}
	var tags []string
	for _, tg := range plans[0].Tags {
		tags = append(tags, tg.Name)
	}
	if strings.Join(tags, ",") != "2,1" || len(plans[0].Manifests) != 2 || plans[0].KeptTags != 3 {
		t.Fatalf("dry run would delete tags %v and manifests %v, keeping %d tags", tags, plans[0].Manifests, plans[0].KeptTags)
	}
	if got := run("ls", repo); got != all {
		t.Fatalf("the dry run deleted tags: %q", got)
	}

	// Another node holds the lease: this one runs nothing.
	other := meta.Lease{Holder: "another node", Until: time.Now().Add(time.Minute)}
	if err := h.Deps.Meta.AcquireLease(ctx, "retention", time.Now(), other); err != nil {
		t.Fatal(err)
	}
	if err := hub.RetentionPass(ctx, cfg, h.Deps); !errors.Is(err, meta.ErrLeaseHeld) {
		t.Fatalf("a pass while another node holds the lease: %v", err)
	}
	if got := run("ls", repo); got != all {
		t.Fatalf("a pass without the lease deleted tags: %q", got)
	}
	if err := h.Deps.Meta.ReleaseLease(ctx, "retention", other.Holder); err != nil {
		t.Fatal(err)
	}
	if err := hub.RetentionPass(ctx, cfg, h.Deps); err != nil {
		t.Fatal(err)
	}
	if got := run("ls", repo); got != "3\n4\nv1" {
		t.Fatalf("tags after retention: %q", got)
	}
	for kind, want := range map[string]float64{"tag": 2, "manifest": 2} {
		if got := metric(t, "http://"+h.Addr, `strata_hub_retention_deleted_total{kind="`+kind+`"}`); got != want {
			t.Errorf("retention_deleted_total of kind %s: %v, want %v", kind, got, want)
		}
	}
	for i, d := range digests {
		_, err := testutil.RunErr(nil, crane, "manifest", repo+"@"+d)
		if gone := err != nil; gone != (i == 1 || i == 4) {
			t.Errorf("manifest %d (%s): gone %v", i, d, gone)
		}
	}
	entries, err := h.Deps.Meta.AuditLog(ctx, meta.AuditQuery{Action: meta.AuditManifestDelete})
	if err != nil || len(entries) != 2 || entries[0].Details["by"] != "retention" || entries[0].Details["policy"] != "repository lib/app" {
		t.Fatalf("audit of retention's deletes: %+v, %v", entries, err)
	}
	var heard []string
	for _, p := range rc.wait(2) {
		heard = append(heard, p.Event+" "+p.Tag)
	}
	if slices.Sort(heard); strings.Join(heard, ",") != "tag_delete 1,tag_delete 2" {
		t.Errorf("the webhook heard %v", heard)
	}
	push(t, repo+":5", randomImage(t, 1))
	if err := hub.RetentionPass(ctx, cfg, h.Deps); err != nil {
		t.Fatal(err)
	}
	if got := run("ls", repo); got != "3\n4\n5\nv1" {
		t.Fatalf("retention ran again before its interval: %q", got)
	}
}

// TestWebTagRules: alice sets her repository's and namespace's tag rules
// on the website (bad input is refused and shown again, nothing saved),
// previews retention, runs it, and cannot delete an immutable tag; bob
// may do none of it, the signed-out are sent to sign in. The audit log
// has every change.
func TestWebTagRules(t *testing.T) {
	h, _, _ := accountsHub(t, hub.Config{})
	ctx := context.Background()
	for _, tag := range []string{"v2", "v3"} {
		time.Sleep(2 * time.Millisecond)
		if err := pushAs(t, h.Addr+"/alice/pub:"+tag, "alice", "alice-pass-1", randomImage(t, 1)); err != nil {
			t.Fatal(err)
		}
	}
	alice, bob, anon := newWebClient(t, h), newWebClient(t, h), newWebClient(t, h)
	alice.signIn("alice", "alice-pass-1")
	bob.signIn("bob", "bob-pass-12")
	page := "/r/alice/pub/-/tagrules"
	if r := alice.get(page); r.Status != 200 || !strings.Contains(r.Body, "Nothing: every tag") {
		t.Fatalf("rules page: %d %s", r.Status, r.Body)
	}
	for _, tc := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"immutable": {"v/*"}}, "has &#39;/&#39;"},
		{url.Values{"immutable": {"v[1"}}, "not a valid pattern"},
		{url.Values{"keep_last": {"-3"}}, "whole number from 1 to 10000"},
		{url.Values{"keep_days": {"<b>9</b>"}}, "&lt;b&gt;9&lt;/b&gt;"},
	} {
		if r := alice.post(page, tc.form); r.Status != 400 || !strings.Contains(r.Body, tc.want) {
			t.Errorf("POST %v: %d, want 400 saying %q", tc.form, r.Status, tc.want)
		}
	}
	if p, _ := h.Deps.Meta.TagPolicy(ctx, meta.ScopeRepository, "alice/pub"); !p.Empty() {
		t.Fatalf("a refused form saved %+v", p)
	}

	if r := alice.post(page, url.Values{"immutable": {"v1"}, "keep_last": {"1"}}); r.Status != 303 {
		t.Fatalf("saving rules: %d %s", r.Status, r.Body)
	}
	if r := alice.post("/n/alice/tagrules", url.Values{"immutable": {"release-*"}}); r.Status != 303 {
		t.Fatalf("saving namespace rules: %d %s", r.Status, r.Body)
	}
	r := alice.get(page)
	if !strings.Contains(r.Body, `<tr class="plan-tag"><td>tag <strong>v2</strong>`) || strings.Count(r.Body, `class="plan-tag"`) != 1 ||
		!strings.Contains(r.Body, "From namespace alice") {
		t.Fatalf("the dry run should list v2 alone (v3 the most recent, v1 immutable):\n%s", r.Body)
	}
	if r := alice.get("/r/alice/pub"); !strings.Contains(r.Body, "immutable <code>v1</code>") || !strings.Contains(r.Body, "immutable <code>release-*</code>") {
		t.Fatalf("the repository page does not show its rules:\n%s", r.Body)
	}

	for _, tc := range []struct {
		w      *webClient
		method string
		path   string
		status int
	}{
		{bob, "GET", page, 404},
		{bob, "POST", page, 403},
		{bob, "POST", page + "/run", 403},
		{bob, "GET", "/n/alice/tagrules", 404},
		{bob, "POST", "/n/alice/tagrules", 404},
		{bob, "POST", "/n/alice/tagrules/run", 404},
		{anon, "GET", "/n/alice/tagrules", 303},
		{alice, "GET", "/n/bob/tagrules", 404},
		{alice, "GET", "/n/..%2Fx/tagrules", 404},
	} {
		var got reply
		if tc.method == "GET" {
			got = tc.w.get(tc.path)
		} else {
			tc.w.get("/")
			got = tc.w.post(tc.path, url.Values{"keep_last": {"1"}})
		}
		if got.Status != tc.status {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, got.Status, tc.status)
		}
	}
	if p, _ := h.Deps.Meta.TagPolicy(ctx, meta.ScopeNamespace, "alice"); p.KeepLast != 0 || len(p.Immutable) != 1 {
		t.Fatalf("bob changed alice's namespace rules: %+v", p)
	}

	alice.get(page)
	if r := alice.post(page+"/run", url.Values{}); r.Status != 303 {
		t.Fatalf("running retention: %d %s", r.Status, r.Body)
	}
	if tags, _, _ := h.Deps.Meta.Tags(ctx, "alice/pub", meta.Page{N: -1}); strings.Join(tags, ",") != "v1,v3" {
		t.Fatalf("tags after retention: %v", tags)
	}
	alice.get("/r/alice/pub")
	if r := alice.post("/r/alice/pub/-/tags/delete", url.Values{"tag": {"v1"}}); r.Status != 303 {
		t.Fatalf("deleting an immutable tag: %d", r.Status)
	}
	if r := alice.get("/r/alice/pub"); !strings.Contains(r.Body, "Tag v1 of alice/pub is immutable") {
		t.Fatalf("the refusal is not said:\n%s", r.Body)
	}
	for _, action := range []string{meta.AuditTagRules, meta.AuditRetentionRun, meta.AuditTagDelete} {
		es, err := h.Deps.Meta.AuditLog(ctx, meta.AuditQuery{Action: action})
		if err != nil || len(es) == 0 || es[0].Actor != "alice" {
			t.Errorf("audit of %s: %+v, %v", action, es, err)
		}
	}
}

// TestRetentionKeepsRetagged: a manifest tagged again between the plan
// and its run stays, with its new tag.
func TestRetentionKeepsRetagged(t *testing.T) {
	crane := testutil.Tool(t, "crane")
	cfg := hub.Config{GCGrace: time.Millisecond}
	h := testutil.StartHub(t, cfg)
	ctx := context.Background()
	repo := h.Addr + "/lib/app"
	old := push(t, repo+":old", randomImage(t, 1))
	time.Sleep(2 * time.Millisecond)
	push(t, repo+":new", randomImage(t, 1))
	if err := h.Deps.Meta.SetTagPolicy(ctx, meta.TagPolicy{Scope: meta.ScopeRepository, Name: "lib/app", KeepLast: 1,
		DropUntagged: true, UpdatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	r := hub.Retention(cfg, h.Deps)
	plan, err := r.Plan(ctx, "lib/app")
	if err != nil || len(plan.Tags) != 1 || len(plan.Manifests) != 1 || plan.Manifests[0].String() != old.String() {
		t.Fatalf("plan: %+v, %v", plan, err)
	}
	testutil.Run(t, nil, crane, "tag", repo+"@"+old.String(), "kept")
	res, err := r.Apply(ctx, plan)
	if err != nil || res.Tags != 1 || res.Manifests != 0 || res.Skipped != 1 {
		t.Fatalf("apply: %+v, %v", res, err)
	}
	if got := strings.TrimSpace(testutil.Run(t, nil, crane, "digest", repo+":kept")); got != old.String() {
		t.Fatalf("the re-tagged manifest: %q", got)
	}
}

// TestImmutableTagsDocker: docker's push that would move an immutable tag
// is refused, and docker says why.
func TestImmutableTagsDocker(t *testing.T) {
	h := testutil.StartHub(t, hub.Config{})
	push(t, h.Addr+"/lib/app:v1", busybox(t))
	push(t, h.Addr+"/lib/app:next", webImage(t))
	if err := h.Deps.Meta.SetTagPolicy(context.Background(), meta.TagPolicy{Scope: meta.ScopeRepository, Name: "lib/app",
		Immutable: []string{"v*"}, UpdatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	docker := testutil.StartDocker(t)
	docker.Run(t, "pull", h.Addr+"/lib/app:next")
	docker.Run(t, "tag", h.Addr+"/lib/app:next", h.Addr+"/lib/app:v1")
	_, err := docker.RunErr("push", h.Addr+"/lib/app:v1")
	if err == nil {
		t.Fatal("docker moved an immutable tag")
	}
	if msg := err.Error(); !strings.Contains(msg, `denied: tag v1 of lib/app is immutable (rule "v*" of repository lib/app)`) {
		t.Fatalf("docker says %q", msg)
	}
	docker.Run(t, "tag", h.Addr+"/lib/app:next", h.Addr+"/lib/app:v2")
	docker.Run(t, "push", h.Addr+"/lib/app:v2")
}

// A pull-through cache's namespace takes retention rules (to evict what it
// caches) but no immutable ones: its tags follow the upstream's.
func TestWebTagRulesOfAMirror(t *testing.T) {
	cfg := hub.Config{Mirrors: []mirror.Upstream{{URL: "http://127.0.0.1:9", Prefix: "quay.io"}}}
	cfg.Upstreams = upstream.New(cfg.Mirrors)
	h, _, _ := accountsHub(t, cfg)
	ops := newWebClient(t, h)
	ops.signIn("ops", "ops-pass-12")
	for _, page := range []string{"/n/quay.io/tagrules", "/r/quay.io/org/app/-/tagrules"} {
		if r := ops.post(page, url.Values{"immutable": {"v*"}}); r.Status != 400 && r.Status != 404 || r.Status == 400 && !strings.Contains(r.Body, "pull-through cache") {
			t.Errorf("immutable rules on %s: %d, want refused as the cache's:\n%s", page, r.Status, r.Body)
		}
	}
	if r := ops.post("/n/quay.io/tagrules", url.Values{"keep_last": {"3"}}); r.Status != 303 {
		t.Fatalf("retention rules on the cache's namespace: %d %s", r.Status, r.Body)
	}
	if p, _ := h.Deps.Meta.TagPolicy(context.Background(), meta.ScopeNamespace, "quay.io"); len(p.Immutable) != 0 || p.KeepLast != 3 {
		t.Fatalf("the cache's namespace rules: %+v", p)
	}
}
