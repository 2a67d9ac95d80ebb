package storage_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/meta"
	"github.com/strata-dev/strata/internal/hub/storage"
)

// The scrub finds stored blobs that are not what their digest promises,
// whatever happened to them, quarantines them (served no more, their
// manifests kept), and an honest push of the content heals them.
func TestScrub(t *testing.T) {
	ctx := context.Background()
	p := open(t, t.TempDir(), &clock{})
	blobPath := func(d digest.Digest) string {
		return filepath.Join(p.dir, "content", "blobs", "sha256", d.Encoded()[:2], d.Encoded())
	}
	content := map[string][]byte{}
	digests := map[string]digest.Digest{}
	for _, name := range []string{"healthy", "flipped", "truncated", "missing", "replaced"} {
		content[name] = bytes.Repeat([]byte(name), 10000)
		digests[name] = digest.FromBytes(content[name])
		if _, err := p.store.Put(ctx, "r", "alice", digests[name], bytes.NewReader(content[name])); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.meta.PutManifest(ctx, "r", meta.Manifest{Digest: digest.FromString("m"), MediaType: "x", Content: []byte("m"),
		Blobs: []digest.Digest{digests["flipped"]}}, []string{"v1"}); err != nil {
		t.Fatal(err)
	}
	damage := map[string]func(path string){
		"flipped":   func(p string) { f, _ := os.OpenFile(p, os.O_RDWR, 0); f.WriteAt([]byte("X"), 5000); f.Close() },
		"truncated": func(p string) { os.Truncate(p, 100) },
		"missing":   func(p string) { os.Remove(p) },
		"replaced":  func(p string) { os.WriteFile(p, content["healthy"], 0o644) },
	}
	for name, harm := range damage {
		harm(blobPath(digests[name]))
	}
	dry, err := p.store.Scrub(ctx, storage.ScrubOptions{DryRun: true})
	var found []digest.Digest
	for _, d := range dry.Damaged {
		found = append(found, d.Digest)
	}
	if err != nil || !dry.Done || dry.Blobs != 5 || len(found) != len(damage) || slices.Contains(found, digests["healthy"]) {
		t.Fatalf("dry run: %+v, %v", dry, err)
	}
	if _, err := p.store.Stat(ctx, "r", digests["flipped"]); err != nil {
		t.Fatalf("the dry run quarantined: %v", err)
	}
	// In two goes, as a restarted scrub does from where it stopped.
	var last digest.Digest
	first, err := p.store.Scrub(ctx, storage.ScrubOptions{Progress: func(d digest.Digest) error { last = d; return context.Canceled }})
	if err == nil || first.Done || last == "" {
		t.Fatalf("a scrub told to stop: %+v, %v", first, err)
	}
	rest, err := p.store.Scrub(ctx, storage.ScrubOptions{After: last})
	if err != nil || len(first.Damaged)+len(rest.Damaged) != len(damage) || first.Blobs+rest.Blobs != 5 {
		t.Fatalf("scrubbing in two goes: %+v then %+v, %v", first, rest, err)
	}
	for name := range damage {
		if _, err := p.store.Stat(ctx, "r", digests[name]); !errdefs.IsNotFound(err) {
			t.Errorf("%s is still served: %v", name, err)
		}
	}
	if got := read(t, p.store, "r", digests["healthy"]); !bytes.Equal(got, content["healthy"]) {
		t.Fatal("the healthy blob was harmed")
	}
	if _, err := p.meta.Manifest(ctx, "r", "v1"); err != nil {
		t.Fatalf("quarantine took the manifest: %v", err)
	}
	again, _ := p.store.Scrub(ctx, storage.ScrubOptions{})
	if len(again.Damaged) != 0 || again.Blobs != 1 {
		t.Fatalf("quarantined blobs were checked again: %+v", again)
	}
	// An honest push, in another repository, heals each everywhere.
	for name := range damage {
		if _, err := p.store.Put(ctx, "other", "bob", digests[name], bytes.NewReader(content[name])); err != nil {
			t.Fatalf("pushing %s again: %v", name, err)
		}
		if got := read(t, p.store, "r", digests[name]); !bytes.Equal(got, content[name]) {
			t.Fatalf("%s is not healed", name)
		}
	}
	if healed, _ := p.store.Scrub(ctx, storage.ScrubOptions{}); len(healed.Damaged) != 0 || healed.Blobs != 5 {
		t.Fatalf("after healing: %+v", healed)
	}
}
