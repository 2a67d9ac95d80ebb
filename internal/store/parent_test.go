package store

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/image"
)

// extend adds an image made from base as commit and build make them: base's
// config with one more history entry, and a layer when layer is not nil.
func extend(t *testing.T, s *Store, base Image, layer []byte, createdBy string, derived bool) Image {
	t.Helper()
	cb, err := s.Config(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := image.ParseConfig(cb)
	if err != nil {
		t.Fatal(err)
	}
	baseLayers, err := s.ImageLayers(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	var layers []Layer
	for _, l := range baseLayers {
		layers = append(layers, Layer{Blob: l.Blob, DiffID: l.DiffID, TarSize: l.TarSize, Size: l.Size})
	}
	now := time.Now().UTC()
	h := image.History{Created: &now, CreatedBy: createdBy, EmptyLayer: layer == nil}
	if layer != nil {
		l, err := s.AddLayerTar(ctx, bytes.NewReader(layer), "")
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, l)
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.DiffID)
	}
	cfg.History = append(cfg.History, h)
	b, _ := json.Marshal(cfg)
	cdesc, err := s.AddJSON(ctx, ocispec.MediaTypeImageConfig, b)
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.WriteManifest(ctx, cdesc, layers)
	if err != nil {
		t.Fatal(err)
	}
	n.Derived = derived
	img, err := s.Add(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func ancestorIDs(t *testing.T, s *Store, img Image) []digest.Digest {
	t.Helper()
	as, err := s.Ancestors(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	var out []digest.Digest
	for _, a := range as {
		out = append(out, a.ID)
	}
	return out
}

// TestParents: an image made here has as its parent the longest stored
// image whose history and layers it extends; others have none; a deleted
// parent hands its children to its own parent.
func TestParents(t *testing.T) {
	s := openStore(t)
	layer := tarOf(t, entry{name: "bin/sh", body: "#!shell"})
	// The same layer with another history, stored first: it has base's top
	// layer, not its history, so nothing made from base descends from it.
	impostor := importTar(t, s, layer, "impostor:1", "ENV X=1")
	base := importTar(t, s, layer, "base:1")
	a := extend(t, s, base, tarOf(t, entry{name: "a", body: "a"}), "RUN a", true)
	b := extend(t, s, a, nil, "ENV B=1", true)
	c := extend(t, s, b, tarOf(t, entry{name: "c", body: "c"}), "RUN c", true)
	skip := extend(t, s, base, nil, "ENV SKIP=1", true)
	pulled := extend(t, s, base, tarOf(t, entry{name: "p", body: "p"}), "RUN p", false)
	tests := []struct {
		name string
		img  Image
		want []digest.Digest
	}{
		{"imported", base, nil},
		{"impostor", impostor, nil},
		{"commit of base", a, []digest.Digest{base.ID}},
		{"config-only step", b, []digest.Digest{a.ID, base.ID}},
		{"three down", c, []digest.Digest{b.ID, a.ID, base.ID}},
		{"sibling", skip, []digest.Digest{base.ID}},
		{"not made here", pulled, nil},
	}
	for _, tc := range tests {
		if got := ancestorIDs(t, s, tc.img); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: ancestors %v, want %v", tc.name, got, tc.want)
		}
	}
	// As in docker: an image others were made from is not deleted by ID, even
	// forced; removing its last tag only untags it; a dangling prune leaves it.
	if _, err := s.Remove(ctx, b.ID.String(), true); !errors.Is(err, errdefs.ErrConflict) ||
		!strings.Contains(err.Error(), "dependent child images") {
		t.Errorf("removing a parent by ID: %v, want a conflict over its child", err)
	}
	if err := s.Tag(ctx, b.ID, mustTag("b:1")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Remove(ctx, "b:1", false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, b.ID); err != nil {
		t.Errorf("untagging a parent deleted it: %v", err)
	}
	if err := s.Tag(ctx, c.ID, mustTag("c:1")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Prune(ctx, false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, b.ID); err != nil {
		t.Errorf("a dangling prune deleted an untagged parent of a tagged image: %v", err)
	}
	// With c gone, the untagged chain c came from is dangling and goes with it; base is tagged.
	if _, err := s.Remove(ctx, "c:1", false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Prune(ctx, false); err != nil {
		t.Fatal(err)
	}
	for _, gone := range []Image{a, b} {
		if _, err := s.Get(ctx, gone.ID); !errdefs.IsNotFound(err) {
			t.Errorf("after c went, prune left %s: %v", gone.ID, err)
		}
	}
	if _, err := s.Get(ctx, base.ID); err != nil {
		t.Errorf("prune deleted the tagged base: %v", err)
	}
	a = extend(t, s, base, tarOf(t, entry{name: "a", body: "a"}), "RUN a", true)
	b = extend(t, s, a, nil, "ENV B=1", true)
	c = extend(t, s, b, tarOf(t, entry{name: "c", body: "c"}), "RUN c", true)
	// A deleted parent hands its children to its own parent (prune -a deletes in any order).
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var r Removal
		return deleteImage(ctx, tx, b, &r)
	})
	if err != nil {
		t.Fatal(err)
	}
	c, _ = s.Get(ctx, c.ID)
	if got := ancestorIDs(t, s, c); fmt.Sprint(got) != fmt.Sprint([]digest.Digest{a.ID, base.ID}) {
		t.Errorf("after removing its parent, c's ancestors are %v, want a and base", got)
	}
	// A new image made from base, after a longer prefix of it (a) is stored, takes a.
	again := extend(t, s, a, tarOf(t, entry{name: "d", body: "d"}), "RUN d", true)
	if again.Parent != a.ID {
		t.Errorf("parent %s, want a (%s)", again.Parent, a.ID)
	}
}

// TestParentMigration: a store written before parents were recorded opens,
// and its images have none.
func TestParentMigration(t *testing.T) {
	root := t.TempDir()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(root, "strata.db"))
	if err != nil {
		t.Fatal(err)
	}
	before := 4 // the schema before parentSchema
	if migrations[before] != parentSchema {
		t.Fatalf("migration %d is not parentSchema", before)
	}
	for _, m := range migrations[:before] {
		if _, err := db.Exec(m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", before)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := Open(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	img := importTar(t, s, tarOf(t, entry{name: "f", body: "1"}), "old:1")
	a := extend(t, s, img, nil, "ENV A=1", true)
	if a.Parent != img.ID {
		t.Errorf("after migration, parent %q, want %s", a.Parent, img.ID)
	}
}
