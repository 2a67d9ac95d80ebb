package metatest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/meta"
)

func user(t *testing.T, s meta.Store, name string, admin bool) meta.User {
	t.Helper()
	u := meta.User{Name: name, PasswordHash: "$argon2id$hash-of-" + name, Admin: admin, CreatedAt: t0}
	if err := s.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

func testUsers(t *testing.T, s meta.Store) {
	ctx := context.Background()
	user(t, s, "bob", false)
	alice := user(t, s, "alice", true)
	if err := s.CreateUser(ctx, meta.User{Name: "alice", PasswordHash: "x", CreatedAt: t0}); !errdefs.IsAlreadyExists(err) {
		t.Fatalf("a second alice: %v", err)
	}
	got, err := s.User(ctx, "alice")
	if err != nil || got.PasswordHash != alice.PasswordHash || !got.Admin || got.Disabled || got.DefaultVisibility != meta.Public {
		t.Fatalf("User = %+v, %v", got, err)
	}
	if _, err := s.User(ctx, "carol"); !errdefs.IsNotFound(err) {
		t.Fatalf("unknown user: %v", err)
	}
	got.PasswordHash, got.DefaultVisibility = "new", meta.Private
	if err := s.UpdateUser(ctx, got); err != nil {
		t.Fatal(err)
	}
	if got, _ = s.User(ctx, "alice"); got.PasswordHash != "new" || got.DefaultVisibility != meta.Private {
		t.Fatalf("after UpdateUser: %+v", got)
	}
	if err := s.UpdateUser(ctx, meta.User{Name: "nobody"}); !errdefs.IsNotFound(err) {
		t.Fatalf("updating an unknown user: %v", err)
	}
	users, err := s.Users(ctx)
	if err != nil || len(users) != 2 || users[0].Name != "alice" || users[1].Name != "bob" {
		t.Fatalf("Users = %+v, %v", users, err)
	}
	// Deleting a user takes their repositories, collaborations and credentials.
	live(t, s, "bob/app", dg("bob layer"), t0)
	s.CreateRepository(ctx, meta.Repository{Name: "alice/shared", Owner: "alice", Visibility: meta.Private, CreatedAt: t0})
	if err := s.SetCollaborator(ctx, "alice/shared", "bob", meta.RoleRead); err != nil {
		t.Fatal(err)
	}
	s.CreateCredential(ctx, meta.Credential{User: "bob", Kind: meta.KindToken, Hash: "bobs", CreatedAt: t0})
	if err := s.DeleteUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Repository(ctx, "bob/app"); !errdefs.IsNotFound(err) {
		t.Fatalf("bob's repository outlived him: %v", err)
	}
	if c, _ := s.Collaborators(ctx, "alice/shared"); len(c) != 0 {
		t.Fatalf("bob still collaborates: %v", c)
	}
	if _, err := s.CredentialByHash(ctx, "bobs"); !errdefs.IsNotFound(err) {
		t.Fatalf("bob's token outlived him: %v", err)
	}
	if err := s.DeleteUser(ctx, "bob"); !errdefs.IsNotFound(err) {
		t.Fatalf("deleting twice: %v", err)
	}
}

func testLastAdmin(t *testing.T, s meta.Store) {
	ctx := context.Background()
	root := user(t, s, "root", true)
	root.Disabled = true
	if err := s.UpdateUser(ctx, root); !errdefs.IsConflict(err) {
		t.Fatalf("disabling the last admin: %v", err)
	}
	root.Disabled, root.Admin = false, false
	if err := s.UpdateUser(ctx, root); !errdefs.IsConflict(err) {
		t.Fatalf("demoting the last admin: %v", err)
	}
	if err := s.DeleteUser(ctx, "root"); !errdefs.IsConflict(err) {
		t.Fatalf("deleting the last admin: %v", err)
	}
	user(t, s, "second", true)
	if err := s.UpdateUser(ctx, root); err != nil {
		t.Fatalf("demoting one of two admins: %v", err)
	}
	if got, _ := s.User(ctx, "root"); got.Admin {
		t.Fatal("a refused change was kept")
	}
}

func testCredentials(t *testing.T, s meta.Store) {
	ctx := context.Background()
	user(t, s, "alice", false)
	user(t, s, "bob", false)
	exp := t0.Add(time.Hour)
	tok, err := s.CreateCredential(ctx, meta.Credential{User: "alice", Kind: meta.KindToken, Name: "ci", Hash: "h1",
		Scope: "read", CreatedAt: t0, ExpiresAt: exp})
	if err != nil {
		t.Fatal(err)
	}
	refresh, _ := s.CreateCredential(ctx, meta.Credential{User: "alice", Kind: meta.KindRefresh, Hash: "h2", Scope: "read",
		Parent: tok, CreatedAt: t0.Add(time.Second)})
	s.CreateCredential(ctx, meta.Credential{User: "alice", Kind: meta.KindSession, Hash: "h3", CreatedAt: t0})
	if _, err := s.CreateCredential(ctx, meta.Credential{User: "alice", Kind: meta.KindToken, Hash: "h1", CreatedAt: t0}); err == nil {
		t.Fatal("two credentials with one hash")
	}
	c, err := s.CredentialByHash(ctx, "h1")
	if err != nil || c.ID != tok || c.User != "alice" || c.Name != "ci" || c.Scope != "read" || !c.ExpiresAt.Equal(exp) || !c.LastUsedAt.IsZero() {
		t.Fatalf("CredentialByHash = %+v, %v", c, err)
	}
	if !c.Expired(exp) || c.Expired(exp.Add(-time.Nanosecond)) {
		t.Fatal("Expired is wrong at the boundary")
	}
	if err := s.TouchCredential(ctx, tok, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if c, _ = s.CredentialByID(ctx, tok); !c.LastUsedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after TouchCredential: %+v", c)
	}
	if list, _ := s.Credentials(ctx, "alice", meta.KindToken); len(list) != 1 || list[0].ID != tok {
		t.Fatalf("Credentials = %+v", list)
	}
	if err := s.DeleteCredential(ctx, "bob", tok); !errdefs.IsNotFound(err) {
		t.Fatalf("bob revoked alice's token: %v", err)
	}
	if err := s.DeleteCredential(ctx, "alice", tok); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CredentialByID(ctx, refresh); !errdefs.IsNotFound(err) {
		t.Fatalf("a refresh token outlived the token it was made with: %v", err)
	}
	if err := s.DeleteCredentials(ctx, "alice", meta.KindSession, meta.KindRefresh); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CredentialByHash(ctx, "h3"); !errdefs.IsNotFound(err) {
		t.Fatalf("session survived DeleteCredentials: %v", err)
	}
}

func testSettings(t *testing.T, s meta.Store) {
	ctx := context.Background()
	if v, err := s.Setting(ctx, "signup"); err != nil || v != "" {
		t.Fatalf("unset setting = %q, %v", v, err)
	}
	s.SetSetting(ctx, "signup", "off")
	s.SetSetting(ctx, "signup", "on")
	if v, _ := s.Setting(ctx, "signup"); v != "on" {
		t.Fatalf("setting = %q", v)
	}
}

func testImplicitOwner(t *testing.T, s meta.Store) {
	ctx := context.Background()
	alice := user(t, s, "alice", false)
	alice.DefaultVisibility = meta.Private
	s.UpdateUser(ctx, alice)
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
	r.Visibility, r.Description = meta.Public, "second"
	if err := s.UpdateRepository(ctx, r); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Repository(ctx, "alice/web"); got.Visibility != meta.Public || got.Description != "second" || got.Owner != "alice" {
		t.Fatalf("after update: %+v", got)
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
	tags, err := s.TagList(ctx, "alice/web")
	if err != nil || len(tags) != 2 || tags[0].Name != "v1" || tags[0].Digest != m.Digest || string(tags[0].Content) != string(m.Content) {
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
	names := func(f meta.RepoFilter) []string {
		repos, _, err := s.ListRepositories(ctx, f, meta.Page{N: -1})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range repos {
			out = append(out, r.Name)
		}
		return out
	}
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
		if got := names(tc.f); !slices.Equal(got, tc.want) {
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
