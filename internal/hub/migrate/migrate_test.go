package migrate_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub"
	"github.com/strata-dev/strata/internal/hub/meta"
	"github.com/strata-dev/strata/internal/hub/migrate"
	"github.com/strata-dev/strata/internal/testutil"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testutil.StopEngines()
	os.Exit(code)
}

var alice = &authn.Basic{Username: "alice", Password: "alice-pass-1"}

func pushImage(t *testing.T, ref string, img v1.Image) {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img, remote.WithAuth(alice)); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
}

// A hub with accounts, a private repository, a collaborator, a token and
// images moves onto S3 and PostgreSQL: served from there (with the same
// data directory, for the signing key), everything is where it was, and
// every blob reads back by its digest.
func TestMigrate(t *testing.T) {
	ctx := context.Background()
	src := testutil.StartAccountsHub(t, hub.Config{}, [2]string{"ops", "ops-pass-12"}, [2]string{"alice", "alice-pass-1"},
		[2]string{"bob", "bob-pass-12"})
	imgs := map[string]v1.Image{}
	for _, ref := range []string{"alice/app:1", "alice/app:2", "alice/secret:v1"} {
		img, err := random.Image(4096, 2)
		if err != nil {
			t.Fatal(err)
		}
		imgs[ref] = img
		pushImage(t, src.Addr+"/"+ref, img)
	}
	m := src.Deps.Meta
	private := meta.Private
	if err := m.UpdateRepository(ctx, "alice/secret", meta.RepoChange{Visibility: &private}); err != nil {
		t.Fatal(err)
	}
	if err := m.SetCollaborator(ctx, "alice/secret", "bob", meta.RoleRead); err != nil {
		t.Fatal(err)
	}
	token, err := src.Deps.Auth.CreateToken(ctx, "alice", "ci", "read-write", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	before, _ := m.Usage(ctx)

	cfg := testutil.OnEngines(t, hub.Config{})
	dst, err := hub.OpenStorage(ctx, cfg.Storage, "")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := migrate.Run(ctx, src.Dir, dst, cfg.Database, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Blobs != before.Blobs || rep.Bytes != before.BlobBytes || rep.Rows == 0 {
		t.Fatalf("migrate moved %+v; the hub had %+v", rep, before)
	}
	if _, err := migrate.Run(ctx, src.Dir, dst, cfg.Database, nil); !errdefs.IsConflict(err) {
		t.Fatalf("a second run into the same database: %v, want a conflict", err)
	}

	cfg.DataDir = src.Dir
	moved := testutil.StartAccountsHub(t, cfg)
	after, _ := moved.Deps.Meta.Usage(ctx)
	if after != before {
		t.Fatalf("usage after migrating %+v, before %+v", after, before)
	}
	for ref, img := range imgs {
		r, _ := name.ParseReference(moved.Addr + "/" + ref)
		got, err := remote.Image(r, remote.WithAuth(alice))
		if err != nil {
			t.Fatalf("pull %s: %v", ref, err)
		}
		want, _ := img.Digest()
		if d, _ := got.Digest(); d != want {
			t.Fatalf("%s is %s after migrating, was %s", ref, d, want)
		}
		layers, _ := got.Layers()
		for _, l := range layers {
			rc, err := l.Compressed() // verified against its digest while read
			if err == nil {
				_, err = io.Copy(io.Discard, rc)
				rc.Close()
			}
			if err != nil {
				t.Fatalf("%s: layer: %v", ref, err)
			}
		}
	}
	// Who may see what came along: the private repository, its
	// collaborator, alice's token.
	if r, _ := moved.Deps.Meta.Repository(ctx, "alice/secret"); r.Visibility != meta.Private {
		t.Fatalf("alice/secret is %s after migrating", r.Visibility)
	}
	if role, _ := moved.Deps.Meta.CollaboratorRole(ctx, "alice/secret", "bob"); role != meta.RoleRead {
		t.Fatalf("bob's role is %q after migrating", role)
	}
	anon, _ := name.ParseReference(moved.Addr + "/alice/secret:v1")
	if _, err := remote.Image(anon); err == nil {
		t.Fatal("the private repository is readable anonymously after migrating")
	}
	withToken := remote.WithAuth(&authn.Basic{Username: "alice", Password: token})
	if _, err := remote.Image(anon, withToken); err != nil {
		t.Fatalf("alice's token after migrating: %v", err)
	}
	// New accounts and pushes get fresh ids (the sequences follow).
	if err := moved.Deps.Auth.CreateUser(ctx, "carol", "carol-pass-1", false); err != nil {
		t.Fatal(err)
	}
	pushImage(t, moved.Addr+"/alice/app:3", imgs["alice/app:1"])
}

// A blob whose content no longer matches its digest stops the move before
// any metadata is written.
func TestMigrateRefusesACorruptBlob(t *testing.T) {
	ctx := context.Background()
	src := testutil.StartAccountsHub(t, hub.Config{}, [2]string{"alice", "alice-pass-1"})
	img, _ := random.Image(4096, 1)
	pushImage(t, src.Addr+"/alice/app:1", img)
	layers, _ := img.Layers()
	ld, _ := layers[0].Digest()
	path := filepath.Join(src.Dir, "content", "blobs", "sha256", ld.Hex[:2], ld.Hex)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	os.Chmod(path, 0o644)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := testutil.OnEngines(t, hub.Config{})
	dst, err := hub.OpenStorage(ctx, cfg.Storage, "")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := migrate.Run(ctx, src.Dir, dst, cfg.Database, nil)
	if err == nil || len(rep.Corrupted) != 1 || rep.Corrupted[0].String() != ld.String() {
		t.Fatalf("migrating a corrupt blob: %+v, %v", rep, err)
	}
	if _, err := dst.Stat(ctx, digestOf(ld)); !errdefs.IsNotFound(err) {
		t.Fatalf("the corrupt blob reached the store: %v", err)
	}
	moved, err := hub.OpenMeta(ctx, cfg.Database, "")
	if err != nil {
		t.Fatal(err)
	}
	defer moved.Close()
	if u, _ := moved.Usage(ctx); u.Users+u.Repositories+u.Blobs != 0 {
		t.Fatalf("metadata was written: %+v", u)
	}
}

func digestOf(h v1.Hash) digest.Digest { return digest.Digest(h.String()) }
