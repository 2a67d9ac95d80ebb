package metatest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/meta"
)

func user(t *testing.T, s meta.Store, name string, admin bool) meta.User {
	t.Helper()
	u := meta.User{Name: name, PasswordHash: "$argon2id$hash-of-" + name, Admin: admin, CreatedAt: t0}
	if err := s.CreateUser(context.Background(), u, false); err != nil {
		t.Fatal(err)
	}
	got, err := s.User(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func ptr[T any](v T) *T { return &v }

// expectCredentials checks which of user's credentials are left, by hash.
func expectCredentials(t *testing.T, s meta.Store, user string, want ...string) {
	t.Helper()
	var got []string
	for _, k := range []meta.CredentialKind{meta.KindToken, meta.KindSession, meta.KindRefresh} {
		list, err := s.Credentials(context.Background(), user, k)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range list {
			got = append(got, c.Hash)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("%s's credentials = %v, want %v", user, got, want)
	}
}

func testUsers(t *testing.T, s meta.Store) {
	ctx := context.Background()
	user(t, s, "bob", false)
	alice := user(t, s, "alice", true)
	if err := s.CreateUser(ctx, meta.User{Name: "alice", PasswordHash: "x", CreatedAt: t0}, false); !errdefs.IsAlreadyExists(err) {
		t.Fatalf("a second alice: %v", err)
	}
	got, err := s.User(ctx, "alice")
	if err != nil || got.PasswordHash != "$argon2id$hash-of-alice" || !got.Admin || got.Disabled || got.DefaultVisibility != meta.Public ||
		got.Generation == 0 || got.Generation != alice.Generation {
		t.Fatalf("User = %+v, %v", got, err)
	}
	if bob, _ := s.User(ctx, "bob"); bob.Generation == got.Generation || !bob.Admin {
		t.Fatalf("bob = %+v: the first user is an administrator, and generations differ", bob)
	}
	if _, err := s.User(ctx, "carol"); !errdefs.IsNotFound(err) {
		t.Fatalf("unknown user: %v", err)
	}
	if err := s.UpdateUser(ctx, "alice", meta.UserChange{PasswordHash: ptr("new"), DefaultVisibility: ptr(meta.Private)}); err != nil {
		t.Fatal(err)
	}
	if got, _ = s.User(ctx, "alice"); got.PasswordHash != "new" || got.DefaultVisibility != meta.Private || !got.Admin {
		t.Fatalf("after UpdateUser: %+v", got)
	}
	if err := s.UpdateUser(ctx, "nobody", meta.UserChange{Admin: ptr(true)}); !errdefs.IsNotFound(err) {
		t.Fatalf("updating an unknown user: %v", err)
	}
	if err := s.UpdateUser(ctx, "nobody", meta.UserChange{}); !errdefs.IsNotFound(err) {
		t.Fatalf("an empty change to an unknown user: %v", err)
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
	s.RememberAddress(ctx, "bob", "192.0.2.1", t0.Add(time.Hour))
	bobGen := func() int64 { u, _ := s.User(ctx, "bob"); return u.Generation }()
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
	if known, _ := s.KnownAddress(ctx, "bob", "192.0.2.1", t0); known {
		t.Fatal("bob's addresses outlived him")
	}
	// A new bob inherits nothing: not even a generation the old one had.
	if again := user(t, s, "bob", false); again.Generation <= bobGen {
		t.Fatalf("the new bob's generation %d, the old one's %d", again.Generation, bobGen)
	}
}

// A change writes only the fields it names: a form read slowly after
// others changed the user cannot undo their changes.
func testUserChange(t *testing.T, s meta.Store) {
	ctx := context.Background()
	user(t, s, "root", true)
	user(t, s, "alice", true)
	// While alice's own form is open, another administrator demotes and
	// disables her and gives her a new password.
	for _, c := range []meta.UserChange{{Admin: ptr(false)}, {Disabled: ptr(true)}, {PasswordHash: ptr("reset")}} {
		if err := s.UpdateUser(ctx, "alice", c); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := s.User(ctx, "alice")
	if err := s.UpdateUser(ctx, "alice", meta.UserChange{DefaultVisibility: ptr(meta.Private)}); err != nil {
		t.Fatal(err)
	}
	got, _ := s.User(ctx, "alice")
	if got.Admin || !got.Disabled || got.PasswordHash != "reset" || got.DefaultVisibility != meta.Private || got.Generation != before.Generation {
		t.Fatalf("after changing only the default visibility: %+v", got)
	}
}

// A new password signs a user out everywhere but leaves their access
// tokens; disabling revokes everything, so enabling revives nothing.
func testSignOutEverywhere(t *testing.T, s meta.Store) {
	ctx := context.Background()
	user(t, s, "root", true)
	u := user(t, s, "alice", false)
	tok, _ := s.CreateCredential(ctx, meta.Credential{User: "alice", Kind: meta.KindToken, Hash: "pat", CreatedAt: t0})
	s.CreateCredential(ctx, meta.Credential{User: "alice", Kind: meta.KindRefresh, Hash: "from-pat", Parent: tok, CreatedAt: t0})
	s.CreateCredential(ctx, meta.Credential{User: "alice", Kind: meta.KindSession, Hash: "browser", CreatedAt: t0})
	s.CreateCredential(ctx, meta.Credential{User: "alice", Kind: meta.KindRefresh, Hash: "docker", CreatedAt: t0})
	s.CreateCredential(ctx, meta.Credential{User: "root", Kind: meta.KindSession, Hash: "roots", CreatedAt: t0})
	if err := s.UpdateUser(ctx, "alice", meta.UserChange{DefaultVisibility: ptr(meta.Private)}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.User(ctx, "alice"); got.Generation != u.Generation {
		t.Fatal("changing the default visibility changed the generation")
	}
	expectCredentials(t, s, "alice", "pat", "from-pat", "browser", "docker")
	if err := s.UpdateUser(ctx, "alice", meta.UserChange{PasswordHash: ptr("new")}); err != nil {
		t.Fatal(err)
	}
	afterPassword, _ := s.User(ctx, "alice")
	if afterPassword.Generation == u.Generation {
		t.Fatal("a new password kept the generation")
	}
	expectCredentials(t, s, "alice", "pat")
	s.CreateCredential(ctx, meta.Credential{User: "alice", Kind: meta.KindSession, Hash: "browser2", CreatedAt: t0})
	if err := s.UpdateUser(ctx, "alice", meta.UserChange{Disabled: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	disabled, _ := s.User(ctx, "alice")
	if disabled.Generation == afterPassword.Generation {
		t.Fatal("disabling kept the generation")
	}
	expectCredentials(t, s, "alice")
	if err := s.UpdateUser(ctx, "alice", meta.UserChange{Disabled: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	if enabled, _ := s.User(ctx, "alice"); enabled.Generation != disabled.Generation || enabled.Disabled {
		t.Fatalf("enabled again: %+v", enabled)
	}
	expectCredentials(t, s, "alice")
	expectCredentials(t, s, "root", "roots")
}

// The first user is an administrator whatever is asked; sign-up on the
// web is closed once there is one, unless the setting opens it.
func testFirstUserAndSignup(t *testing.T, s meta.Store) {
	ctx := context.Background()
	if err := s.CreateUser(ctx, meta.User{Name: "first", PasswordHash: "h", CreatedAt: t0}, true); err != nil {
		t.Fatalf("signing up on an empty hub: %v", err)
	}
	if u, _ := s.User(ctx, "first"); !u.Admin {
		t.Fatal("the first user is not an administrator")
	}
	if err := s.CreateUser(ctx, meta.User{Name: "second", PasswordHash: "h", CreatedAt: t0}, true); !errors.Is(err, errdefs.ErrForbidden) {
		t.Fatalf("signing up once the hub has a user: %v", err)
	}
	if _, err := s.User(ctx, "second"); !errdefs.IsNotFound(err) {
		t.Fatal("a refused sign-up made a user")
	}
	if err := s.CreateUser(ctx, meta.User{Name: "made", PasswordHash: "h", CreatedAt: t0}, false); err != nil {
		t.Fatalf("an administrator making a user with sign-up closed: %v", err)
	}
	s.SetSetting(ctx, meta.SettingSignup, "on")
	if err := s.CreateUser(ctx, meta.User{Name: "second", PasswordHash: "h", Admin: true, CreatedAt: t0}, true); err != nil {
		t.Fatalf("signing up with sign-up open: %v", err)
	}
	s.SetSetting(ctx, meta.SettingSignup, "off")
	if err := s.CreateUser(ctx, meta.User{Name: "third", PasswordHash: "h", CreatedAt: t0}, true); !errors.Is(err, errdefs.ErrForbidden) {
		t.Fatalf("signing up once closed again: %v", err)
	}
}

// Visitors racing to sign up on a new hub: one account, the administrator.
func testSignupRace(t *testing.T, s meta.Store) {
	ctx := context.Background()
	race(10, func(i int) bool {
		return s.CreateUser(ctx, meta.User{Name: fmt.Sprint("racer", i), PasswordHash: "h", CreatedAt: t0}, true) == nil
	})
	users, err := s.Users(ctx)
	if err != nil || len(users) != 1 || !users[0].Admin {
		t.Fatalf("after 10 racing sign-ups: %+v, %v; want one administrator", users, err)
	}
}

func testLastAdmin(t *testing.T, s meta.Store) {
	ctx := context.Background()
	user(t, s, "root", true)
	s.CreateCredential(ctx, meta.Credential{User: "root", Kind: meta.KindSession, Hash: "roots", CreatedAt: t0})
	if err := s.UpdateUser(ctx, "root", meta.UserChange{Disabled: ptr(true)}); !errdefs.IsConflict(err) {
		t.Fatalf("disabling the last admin: %v", err)
	}
	expectCredentials(t, s, "root", "roots") // a refused change revokes nothing
	if err := s.UpdateUser(ctx, "root", meta.UserChange{Admin: ptr(false)}); !errdefs.IsConflict(err) {
		t.Fatalf("demoting the last admin: %v", err)
	}
	if err := s.DeleteUser(ctx, "root"); !errdefs.IsConflict(err) {
		t.Fatalf("deleting the last admin: %v", err)
	}
	user(t, s, "second", true)
	if err := s.UpdateUser(ctx, "root", meta.UserChange{Admin: ptr(false)}); err != nil {
		t.Fatalf("demoting one of two admins: %v", err)
	}
	if got, _ := s.User(ctx, "root"); got.Admin {
		t.Fatal("demoting did not demote")
	}
}

// A credential id is never given again, even after the newest is deleted:
// bearer tokens name the credential they came from.
func testCredentialIDs(t *testing.T, s meta.Store) {
	ctx := context.Background()
	user(t, s, "alice", false)
	var last int64
	for i := range 3 {
		id, err := s.CreateCredential(ctx, meta.Credential{User: "alice", Kind: meta.KindToken, Hash: fmt.Sprint("h", i), CreatedAt: t0})
		if err != nil || id <= last {
			t.Fatalf("credential %d: id %d after %d, %v", i, id, last, err)
		}
		if err := s.DeleteCredential(ctx, "alice", id); err != nil {
			t.Fatal(err)
		}
		last = id
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
