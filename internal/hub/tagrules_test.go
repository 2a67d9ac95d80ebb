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
