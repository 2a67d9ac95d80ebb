package hub_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/strata-dev/strata/internal/hub"
	"github.com/strata-dev/strata/internal/hub/meta"
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
	refused := func(what string, args ...string) {
		t.Helper()
		_, err := testutil.RunErr(nil, crane, args...)
		if err == nil {
			t.Fatalf("%s: crane succeeded", what)
		}
		msg := err.(*testutil.RunError).Stderr
		if !strings.Contains(msg, "DENIED: tag v1 of lib/app is immutable (rule \"v*\" of namespace lib)") {
			t.Fatalf("%s: crane says %q; want the rule named", what, msg)
		}
	}
	run("copy", repo+":build-1", repo+":v1")
	run("copy", repo+":build-1", repo+":v1") // the same image again: nothing moves
	refused("moving v1", "copy", repo+":build-2", repo+":v1")
	refused("deleting v1", "delete", repo+":v1")
	refused("deleting v1's image", "delete", repo+"@"+one.String())
	if got := run("digest", repo+":v1"); got != one.String() {
		t.Fatalf("v1 is %s after the refusals, want %s", got, one)
	}
	run("copy", repo+":build-2", repo+":v2")
	run("delete", repo+":build-2") // a tag no rule covers
}

// TestRetention: keep the 2 most recent tags and drop untagged manifests,
// with v* immutable. The dry run lists what would go and deletes nothing;
// the scheduler's pass deletes it through the API's path (the audit log
// says so), and the registry API no longer serves it.
// On SQLite and PostgreSQL.
func TestRetention(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testRetention(t, hub.Config{GCGrace: time.Millisecond}) })
	t.Run("postgres", func(t *testing.T) {
		testRetention(t, hub.Config{GCGrace: time.Millisecond, Database: testutil.PostgresDB(t)})
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

	if err := hub.RetentionPass(ctx, cfg, h.Deps); err != nil {
		t.Fatal(err)
	}
	if got := run("ls", repo); got != "3\n4\nv1" {
		t.Fatalf("tags after retention: %q", got)
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
	push(t, repo+":5", randomImage(t, 1))
	if err := hub.RetentionPass(ctx, cfg, h.Deps); err != nil {
		t.Fatal(err)
	}
	if got := run("ls", repo); got != "3\n4\n5\nv1" {
		t.Fatalf("retention ran again before its interval: %q", got)
	}
}
