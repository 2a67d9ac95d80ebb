package metatest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/meta"
)

func testImplicitOwner(t *testing.T, s meta.Store) {
	ctx := context.Background()
	user(t, s, "alice", false)
	s.UpdateUser(ctx, "alice", meta.UserChange{DefaultVisibility: ptr(meta.Private)})
	user(t, s, "bob", false)
	live(t, s, "alice/app", dg("1"), t0)
	live(t, s, "bob/tools/x", dg("2"), t0)
	live(t, s, "nobody/app", dg("3"), t0)
	live(t, s, "alice", dg("4"), t0) // one component: no namespace
	for _, want := range []meta.Repository{
		{Name: "alice/app", Owner: "alice", Visibility: meta.Private},
		{Name: "bob/tools/x", Owner: "bob", Visibility: meta.Public},
		{Name: "nobody/app", Visibility: meta.Public},
		{Name: "alice", Visibility: meta.Public},
	} {
		got, err := s.Repository(ctx, want.Name)
		if err != nil || got.Owner != want.Owner || got.Visibility != want.Visibility {
			t.Errorf("pushed %s: %+v, %v; want owner %q, %s", want.Name, got, err, want.Owner, want.Visibility)
		}
	}
}

func testRepositoryLifecycle(t *testing.T, s meta.Store) {
	ctx := context.Background()
	user(t, s, "alice", false)
	user(t, s, "bob", false)
	r := meta.Repository{Name: "alice/web", Owner: "alice", Visibility: meta.Private, Description: "first", CreatedAt: t0}
	if err := s.CreateRepository(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRepository(ctx, r); !errdefs.IsAlreadyExists(err) {
		t.Fatalf("creating twice: %v", err)
	}
	live(t, s, "alice/web", dg("cfg"), t0) // a push keeps what was made first
	if err := s.UpdateRepository(ctx, "alice/web", meta.RepoChange{Description: ptr("second")}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateRepository(ctx, "alice/web", meta.RepoChange{Visibility: ptr(meta.Public)}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Repository(ctx, "alice/web"); got.Visibility != meta.Public || got.Description != "second" || got.Owner != "alice" {
		t.Fatalf("after two changes of one field each: %+v", got)
	}
	if err := s.UpdateRepository(ctx, "alice/none", meta.RepoChange{Description: ptr("x")}); !errdefs.IsNotFound(err) {
		t.Fatalf("changing an unknown repository: %v", err)
	}
	if err := s.SetCollaborator(ctx, "alice/web", "bob", meta.RoleRead); err != nil {
		t.Fatal(err)
	}
	s.SetCollaborator(ctx, "alice/web", "bob", meta.RoleWrite)
	if role, _ := s.CollaboratorRole(ctx, "alice/web", "bob"); role != meta.RoleWrite {
		t.Fatalf("role = %q", role)
	}
	if err := s.SetCollaborator(ctx, "alice/web", "nobody", meta.RoleRead); !errdefs.IsNotFound(err) {
		t.Fatalf("an unknown collaborator: %v", err)
	}
	m := image("web", dg("cfg"))
	s.PutManifest(ctx, "alice/web", m, []string{"v2", "v1"})
	tags, _, err := s.TagList(ctx, "alice/web", meta.TagQuery{N: -1})
	if err != nil || len(tags) != 2 || tags[0].Name != "v1" || tags[0].Digest != m.Digest || tags[0].Size != int64(len(m.Content)) ||
		tags[0].MediaType != m.MediaType {
		t.Fatalf("TagList = %+v, %v", tags, err)
	}
	if err := s.RemoveCollaborator(ctx, "alice/web", "bob"); err != nil {
		t.Fatal(err)
	}
	if role, _ := s.CollaboratorRole(ctx, "alice/web", "bob"); role != "" {
		t.Fatalf("removed collaborator keeps %q", role)
	}
	if err := s.DeleteRepository(ctx, "alice/web"); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		func() error { _, err := s.Repository(ctx, "alice/web"); return err }(),
		func() error { _, err := s.Manifest(ctx, "alice/web", "v1"); return err }(),
		func() error { _, err := s.RepoBlob(ctx, "alice/web", dg("cfg")); return err }(),
		s.DeleteRepository(ctx, "alice/web"),
	} {
		if !errdefs.IsNotFound(err) {
			t.Fatalf("after DeleteRepository: %v", err)
		}
	}
	// Its blobs are garbage once the grace period is over.
	if g, _ := s.FindGarbage(ctx, t0.Add(time.Hour)); len(g.Blobs) != 1 || g.Blobs[0].Digest != dg("cfg") {
		t.Fatalf("garbage after deleting the repository: %+v", g)
	}
}

func testVisibilityFilter(t *testing.T, s meta.Store) {
	ctx := context.Background()
	user(t, s, "alice", false)
	user(t, s, "bob", false)
	for _, r := range []meta.Repository{
		{Name: "alice/open", Owner: "alice", Visibility: meta.Public, Description: "A web server"},
		{Name: "alice/secret", Owner: "alice", Visibility: meta.Private, Description: "Web secrets"},
		{Name: "alice/shared", Owner: "alice", Visibility: meta.Private},
		{Name: "bob/tool", Owner: "bob", Visibility: meta.Private, Description: "100%_sure"},
	} {
		r.CreatedAt = t0
		if err := s.CreateRepository(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	s.SetCollaborator(ctx, "alice/shared", "bob", meta.RoleRead)
	for _, tc := range []struct {
		f    meta.RepoFilter
		want []string
	}{
		{meta.RepoFilter{}, []string{"alice/open"}},
		{meta.RepoFilter{All: true}, []string{"alice/open", "alice/secret", "alice/shared", "bob/tool"}},
		{meta.RepoFilter{Viewer: "alice"}, []string{"alice/open", "alice/secret", "alice/shared"}},
		{meta.RepoFilter{Viewer: "bob"}, []string{"alice/open", "alice/shared", "bob/tool"}},
		{meta.RepoFilter{Viewer: "bob", Mine: true}, []string{"alice/shared", "bob/tool"}},
		{meta.RepoFilter{Viewer: "bob", Owner: "alice"}, []string{"alice/open", "alice/shared"}},
		{meta.RepoFilter{Query: "WEB"}, []string{"alice/open"}},
		{meta.RepoFilter{Viewer: "alice", Query: "web"}, []string{"alice/open", "alice/secret"}},
		{meta.RepoFilter{All: true, Query: "%_"}, []string{"bob/tool"}},
		{meta.RepoFilter{All: true, Query: "_"}, []string{"bob/tool"}},
		{meta.RepoFilter{Viewer: "carol", Query: "secret"}, nil},
	} {
		if got := names(t, s, tc.f); !slices.Equal(got, tc.want) {
			t.Errorf("ListRepositories(%+v) = %v, want %v", tc.f, got, tc.want)
		}
	}
}

func testUsage(t *testing.T, s meta.Store) {
	ctx := context.Background()
	user(t, s, "alice", false)
	live(t, s, "alice/a", dg("x"), t0)
	live(t, s, "alice/b", dg("x"), t0)
	live(t, s, "alice/b", dg("y"), t0)
	u, err := s.Usage(ctx)
	if err != nil || u != (meta.Usage{Users: 1, Repositories: 2, Blobs: 2, BlobBytes: 20}) {
		t.Fatalf("Usage = %+v, %v", u, err)
	}
}

// A tag list comes in pages, by name or newest first, without the manifests' content.
func testTagList(t *testing.T, s meta.Store) {
	ctx := context.Background()
	live(t, s, "r", dg("cfg"), t0)
	for i, tag := range []string{"b", "a", "c", "d"} {
		m := image(tag, dg("cfg"))
		m.CreatedAt = t0.Add(time.Duration(i) * time.Minute) // b oldest, d newest
		if err := s.PutManifest(ctx, "r", m, []string{tag}); err != nil {
			t.Fatal(err)
		}
	}
	names := func(q meta.TagQuery) ([]string, bool) {
		tags, more, err := s.TagList(ctx, "r", q)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, tg := range tags {
			out = append(out, tg.Name)
		}
		return out, more
	}
	for _, tc := range []struct {
		q    meta.TagQuery
		want []string
		more bool
	}{
		{meta.TagQuery{N: -1}, []string{"a", "b", "c", "d"}, false},
		{meta.TagQuery{N: 2}, []string{"a", "b"}, true},
		{meta.TagQuery{Offset: 2, N: 2}, []string{"c", "d"}, false},
		{meta.TagQuery{ByDate: true, N: 3}, []string{"d", "c", "a"}, true},
		{meta.TagQuery{ByDate: true, Offset: 3, N: 3}, []string{"b"}, false},
		{meta.TagQuery{Offset: 10, N: 3}, nil, false},
	} {
		if got, more := names(tc.q); !slices.Equal(got, tc.want) || more != tc.more {
			t.Errorf("TagList(%+v) = %v, more %v; want %v, %v", tc.q, got, more, tc.want, tc.more)
		}
	}
	if _, _, err := s.TagList(ctx, "none", meta.TagQuery{N: -1}); !errdefs.IsNotFound(err) {
		t.Fatalf("TagList of an unknown repository: %v", err)
	}
}

// A manifest an index of its repository names is not deleted under it.
func testIndexChildrenStay(t *testing.T, s meta.Store) {
	ctx := context.Background()
	live(t, s, "r", dg("cfg"), t0)
	child := image("child", dg("cfg"))
	if err := s.PutManifest(ctx, "r", child, nil); err != nil {
		t.Fatal(err)
	}
	idx := image("index")
	idx.Children = []digest.Digest{child.Digest}
	if err := s.PutManifest(ctx, "r", idx, []string{"multi"}); err != nil {
		t.Fatal(err)
	}
	// The same child in another repository, named by no index there.
	live(t, s, "s", dg("cfg"), t0)
	s.PutManifest(ctx, "s", child, nil)
	var inUse *meta.InUseError
	err := s.DeleteManifest(ctx, "r", child.Digest, false)
	if !errors.As(err, &inUse) || inUse.Index != idx.Digest || inUse.Manifest != child.Digest || !errdefs.IsConflict(err) {
		t.Fatalf("deleting a child of an index: %v", err)
	}
	if _, err := s.Manifest(ctx, "r", child.Digest.String()); err != nil {
		t.Fatalf("a refused delete deleted: %v", err)
	}
	if err := s.DeleteManifest(ctx, "s", child.Digest, false); err != nil {
		t.Fatalf("deleting it where no index names it: %v", err)
	}
	if err := s.DeleteManifest(ctx, "r", idx.Digest, false); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteManifest(ctx, "r", child.Digest, false); err != nil {
		t.Fatalf("deleting the child once the index is gone: %v", err)
	}
}

// A delete of untagged manifests only (retention's) leaves a manifest a
// tag points at, checked in its own transaction: a tag pushed since
// retention looked keeps its manifest.
func testDeleteUntaggedOnly(t *testing.T, s meta.Store) {
	ctx := context.Background()
	live(t, s, "r", dg("cfg"), t0)
	m := image("m", dg("cfg"))
	if err := s.PutManifest(ctx, "r", m, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.PutManifest(ctx, "r", m, []string{"late"}); err != nil { // the tag pushed meanwhile
		t.Fatal(err)
	}
	var inUse *meta.InUseError
	if err := s.DeleteManifest(ctx, "r", m.Digest, true); !errors.As(err, &inUse) || inUse.Tag != "late" || !errdefs.IsConflict(err) {
		t.Fatalf("deleting a tagged manifest as untagged: %v", err)
	}
	if _, err := s.Manifest(ctx, "r", "late"); err != nil {
		t.Fatalf("the refused delete took the tag: %v", err)
	}
	if err := s.DeleteTag(ctx, "r", "late"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteManifest(ctx, "r", m.Digest, true); err != nil {
		t.Fatalf("deleting it once untagged: %v", err)
	}
}

// Pulls are added in batches (several of one repository in a batch add
// up), the last pull only moves forward, a repository that is gone is
// skipped; the overview is one more field of a repository, changed alone.
func testPullsAndOverview(t *testing.T, s meta.Store) {
	ctx := context.Background()
	user(t, s, "alice", false)
	for _, name := range []string{"alice/web", "alice/db"} {
		if err := s.CreateRepository(ctx, meta.Repository{Name: name, Owner: "alice", Visibility: meta.Public, Description: "d", CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	if r, _ := s.Repository(ctx, "alice/web"); r.Pulls != 0 || !r.LastPulled.IsZero() {
		t.Fatalf("a new repository: %+v", r)
	}
	if md, err := s.Overview(ctx, "alice/web"); md != "" || err != nil {
		t.Fatalf("a new repository's overview: %q, %v", md, err)
	}
	if _, err := s.Overview(ctx, "alice/none"); !errdefs.IsNotFound(err) {
		t.Fatalf("the overview of no repository: %v", err)
	}
	t1, t2 := t0.Add(time.Minute), t0.Add(time.Hour)
	for _, batch := range [][]meta.Pulls{
		{{Repo: "alice/web", Count: 3, Last: t1}, {Repo: "alice/gone", Count: 5, Last: t1}, {Repo: "alice/web", Count: 2, Last: t2}},
		{{Repo: "alice/web", Count: 1, Last: t1}, {Repo: "alice/db", Count: 7, Last: t1}},
		nil,
	} {
		if err := s.RecordPulls(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	for name, want := range map[string]struct {
		n    int64
		last time.Time
	}{"alice/web": {6, t2}, "alice/db": {7, t1}} {
		if r, err := s.Repository(ctx, name); err != nil || r.Pulls != want.n || !r.LastPulled.Equal(want.last) {
			t.Errorf("%s: %d pulls, last %v, %v; want %d, %v", name, r.Pulls, r.LastPulled, err, want.n, want.last)
		}
	}
	listed, _, err := s.ListRepositories(ctx, meta.RepoFilter{All: true}, meta.Page{N: 10})
	if err != nil || len(listed) != 2 || listed[0].Name != "alice/db" || listed[0].Pulls != 7 || !listed[0].LastPulled.Equal(t1) ||
		listed[1].Pulls != 6 || !listed[1].LastPulled.Equal(t2) {
		t.Fatalf("listed: %+v, %v", listed, err)
	}
	if _, err := s.Repository(ctx, "alice/gone"); !errdefs.IsNotFound(err) {
		t.Fatalf("pulls of a repository that is gone made it: %v", err)
	}
	md := "# Web\n\nRun it with `docker run`."
	if err := s.UpdateRepository(ctx, "alice/web", meta.RepoChange{Overview: &md}); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Repository(ctx, "alice/web"); r.Description != "d" || r.Pulls != 6 {
		t.Fatalf("after the overview changed: %+v", r)
	}
	if got, err := s.Overview(ctx, "alice/web"); got != md || err != nil {
		t.Fatalf("overview %q, %v; want %q", got, err, md)
	}
}
