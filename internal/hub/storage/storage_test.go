package storage_test

import (
	"bytes"
	"context"
	"crypto/sha512"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/meta"
	"github.com/strata-dev/strata/internal/hub/meta/sqlite"
	"github.com/strata-dev/strata/internal/hub/storage"
	"github.com/strata-dev/strata/internal/hub/storage/filesystem"
)

// clock is a test clock that starts at the real time and only moves forward when told.
type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// hubParts is a store over real SQLite and a real directory; open it again
// on the same dir to play a restart.
type hubParts struct {
	dir   string
	meta  meta.Store
	drv   *filesystem.Driver
	store *storage.Store
}

func open(t *testing.T, dir string, c *clock) *hubParts {
	t.Helper()
	drv, err := filesystem.New(filepath.Join(dir, "content"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := sqlite.Open(context.Background(), filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return &hubParts{dir: dir, meta: m, drv: drv,
		store: storage.New(drv, m, storage.Options{Grace: time.Hour, UploadMaxAge: 24 * time.Hour, Now: c.Now})}
}

func read(t *testing.T, s *storage.Store, repo string, d digest.Digest) []byte {
	t.Helper()
	rc, _, err := s.Open(context.Background(), repo, d)
	if err != nil {
		t.Fatalf("open %s in %s: %v", d, repo, err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return b
}

// An upload keeps its bytes and its running hash across a restart, and a
// chunk half written when the hub died is cut back to what was recorded.
func TestUploadSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	dir, c := t.TempDir(), &clock{}
	first := open(t, dir, c)
	u, err := first.store.StartUpload(ctx, "r", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.store.Append(ctx, "r", u.ID, 0, bytes.NewReader([]byte("hello, "))); err != nil {
		t.Fatal(err)
	}
	first.meta.Close()
	// The hub died while writing a chunk it never recorded.
	f, _ := os.OpenFile(filepath.Join(dir, "content", "uploads", u.ID), os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte("garbage"))
	f.Close()

	second := open(t, dir, c)
	if st, err := second.store.Status(ctx, "r", u.ID); err != nil || st.Offset != 7 {
		t.Fatalf("after restart: %+v, %v; want 7 bytes", st, err)
	}
	if _, err := second.store.Status(ctx, "other", u.ID); !errors.Is(err, storage.ErrUploadUnknown) {
		t.Fatalf("the upload is visible from another repository: %v", err)
	}
	want := digest.FromString("hello, world")
	if _, err := second.store.Finish(ctx, "r", u.ID, 7, bytes.NewReader([]byte("world")), want); err != nil {
		t.Fatal(err)
	}
	if got := read(t, second.store, "r", want); string(got) != "hello, world" {
		t.Fatalf("blob is %q", got)
	}
}

// A sha512 digest given only at the end is verified by reading the data again.
func TestUploadSHA512(t *testing.T) {
	ctx := context.Background()
	p := open(t, t.TempDir(), &clock{})
	content := bytes.Repeat([]byte("sha512 "), 1000)
	sum := sha512.Sum512(content)
	d := digest.NewDigestFromBytes(digest.SHA512, sum[:])
	u, _ := p.store.StartUpload(ctx, "r", "alice")
	p.store.Append(ctx, "r", u.ID, -1, bytes.NewReader(content[:3000]))
	if _, err := p.store.Finish(ctx, "r", u.ID, 3000, bytes.NewReader(content[3000:]), d); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(read(t, p.store, "r", d), content) {
		t.Fatal("sha512 blob content differs")
	}
	u, _ = p.store.StartUpload(ctx, "r", "alice")
	var de *storage.DigestError
	if _, err := p.store.Finish(ctx, "r", u.ID, -1, bytes.NewReader([]byte("other")), d); !errors.As(err, &de) {
		t.Fatalf("wrong content under a sha512 digest: %v", err)
	}
}

func TestGarbageCollection(t *testing.T) {
	ctx := context.Background()
	c := &clock{}
	p := open(t, t.TempDir(), c)
	keep := []byte("a layer a manifest uses")
	drop := bytes.Repeat([]byte("x"), 1000)
	if _, err := p.store.Put(ctx, "r", "alice", digest.FromBytes(keep), bytes.NewReader(keep)); err != nil {
		t.Fatal(err)
	}
	if err := p.meta.PutManifest(ctx, "r", meta.Manifest{Digest: digest.FromString("m"), MediaType: "x",
		Content: []byte("m"), Blobs: []digest.Digest{digest.FromBytes(keep)}, CreatedAt: c.Now()}, []string{"v1"}); err != nil {
		t.Fatal(err)
	}
	p.store.Put(ctx, "r", "alice", digest.FromBytes(drop), bytes.NewReader(drop))
	abandoned, _ := p.store.StartUpload(ctx, "r", "alice")
	p.store.Append(ctx, "r", abandoned.ID, 0, bytes.NewReader(make([]byte, 500)))

	// Within the grace period nothing goes.
	if r, err := p.store.CollectGarbage(ctx, false); err != nil || r.Bytes() != 0 {
		t.Fatalf("collection within the grace period: %+v, %v", r, err)
	}
	c.Advance(25 * time.Hour)
	dry, err := p.store.CollectGarbage(ctx, true)
	if err != nil || dry.Blobs != 1 || dry.BlobBytes != 1000 || dry.Uploads != 1 || dry.UploadBytes != 500 || dry.Links != 1 {
		t.Fatalf("dry run = %+v, %v", dry, err)
	}
	if _, err := p.drv.Stat(ctx, digest.FromBytes(drop)); err != nil {
		t.Fatalf("the dry run deleted: %v", err)
	}
	done, err := p.store.CollectGarbage(ctx, false)
	if err != nil || done.Bytes() != dry.Bytes() || done.Blobs != 1 {
		t.Fatalf("collection = %+v, %v; the dry run said %+v", done, err, dry)
	}
	if _, err := p.drv.Stat(ctx, digest.FromBytes(drop)); !errdefs.IsNotFound(err) {
		t.Fatalf("unreferenced blob still stored: %v", err)
	}
	if _, err := p.store.Status(ctx, "r", abandoned.ID); !errors.Is(err, storage.ErrUploadUnknown) {
		t.Fatalf("abandoned upload not reaped: %v", err)
	}
	if got := read(t, p.store, "r", digest.FromBytes(keep)); !bytes.Equal(got, keep) {
		t.Fatal("the referenced blob was harmed")
	}
	// Content with no record at all (a crash's leftover) goes too, once old.
	orphan := []byte("orphan")
	st, _ := p.drv.Stage(ctx, "leftover", 0, nil)
	st.Write(orphan)
	st.Commit(ctx, digest.FromBytes(orphan))
	c.Advance(2 * time.Hour)
	if r, _ := p.store.CollectGarbage(ctx, false); r.Orphans != 1 || r.OrphanBytes != int64(len(orphan)) {
		t.Fatalf("orphan sweep = %+v", r)
	}
	if _, err := p.drv.Stat(ctx, digest.FromBytes(orphan)); !errdefs.IsNotFound(err) {
		t.Fatalf("orphan still stored: %v", err)
	}
}
