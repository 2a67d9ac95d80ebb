// Package storagetest is the conformance suite for storage.Driver: every
// driver (the filesystem now, object storage later) runs Run from its tests.
package storagetest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/storage"
)

// Run checks a driver made fresh by newDriver for each subtest.
func Run(t *testing.T, newDriver func(t *testing.T) storage.Driver) {
	tests := []struct {
		name string
		fn   func(*testing.T, storage.Driver)
	}{
		{"CommitThenRead", testCommitThenRead},
		{"NothingVisibleBeforeCommit", testNothingVisibleBeforeCommit},
		{"ResumeAndTruncate", testResumeAndTruncate},
		{"CommitReplaces", testCommitReplaces},
		{"ConcurrentCommits", testConcurrentCommits},
		{"UploadsAndRemove", testUploadsAndRemove},
		{"DeleteAndWalk", testDeleteAndWalk},
		{"HostileNames", testHostileNames},
		{"ExactCommit", testExactCommit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newDriver(t)) })
	}
}

// Put stores content as a blob through a staged upload on d, as upload id.
func Put(t *testing.T, d storage.Driver, id string, content []byte) digest.Digest {
	t.Helper()
	ctx := context.Background()
	st, err := d.Stage(ctx, id, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Write(content); err != nil {
		t.Fatal(err)
	}
	dg := digest.FromBytes(content)
	if err := st.Commit(ctx, dg); err != nil {
		t.Fatal(err)
	}
	return dg
}

func testCommitThenRead(t *testing.T, d storage.Driver) {
	ctx := context.Background()
	content := []byte("0123456789 the blob")
	dg := Put(t, d, "up1", content)
	if n, err := d.Stat(ctx, dg); err != nil || n != int64(len(content)) {
		t.Fatalf("Stat = %d, %v", n, err)
	}
	rc, err := d.Open(ctx, dg)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := rc.Seek(11, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(rc); string(b) != "the blob" {
		t.Fatalf("after Seek(11) read %q", b)
	}
	if err := d.Uploads(ctx, func(id string, _ int64, _ time.Time) error {
		return fmt.Errorf("upload %s listed after Commit", id)
	}); err != nil {
		t.Fatal(err)
	}
	// Removing the upload that committed (a request that failed after its
	// commit drops its upload) leaves the blob whole.
	if err := d.RemoveUpload(ctx, "up1"); err != nil {
		t.Fatal(err)
	}
	if b := Read(t, d, dg); string(b) != string(content) {
		t.Fatalf("after RemoveUpload of the upload that committed it, the blob reads %q", b)
	}
}

// Read returns blob dg as d serves it, failing the test if it cannot.
func Read(t *testing.T, d storage.Driver, dg digest.Digest) []byte {
	t.Helper()
	rc, err := d.Open(context.Background(), dg)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testNothingVisibleBeforeCommit(t *testing.T, d storage.Driver) {
	ctx := context.Background()
	content := []byte("not yet")
	dg := digest.FromBytes(content)
	st, err := d.Stage(ctx, "up2", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	st.Write(content)
	if _, err := d.Stat(ctx, dg); !errdefs.IsNotFound(err) {
		t.Fatalf("blob visible before Commit: %v", err)
	}
	if _, err := d.Open(ctx, dg); !errdefs.IsNotFound(err) {
		t.Fatalf("blob readable before Commit: %v", err)
	}
	st.Close()
	if _, err := d.Stat(ctx, dg); !errdefs.IsNotFound(err) {
		t.Fatalf("blob visible after Close without Commit: %v", err)
	}
}

func testResumeAndTruncate(t *testing.T, d storage.Driver) {
	ctx := context.Background()
	st, err := d.Stage(ctx, "up3", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	st.Write([]byte("hello, wor"))
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	state := st.State()
	// A crash after writing "wor" but before recording it: resume at 7.
	st, err = d.Stage(ctx, "up3", 7, state)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != 7 {
		t.Fatalf("Size after resume = %d, want 7", st.Size())
	}
	st.Write([]byte("world"))
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	state = st.State()
	rc, _, err := d.ReadStaged(ctx, "up3", state)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "hello, world" {
		t.Fatalf("staged data %q", b)
	}
	if _, err := d.Stage(ctx, "up3", 100, state); err == nil {
		t.Fatal("Stage past the data's end succeeded")
	}
	if _, err := d.Stage(ctx, "never-started", 5, nil); !errdefs.IsNotFound(err) {
		t.Fatalf("resuming an unknown upload: %v", err)
	}
}

// Commit replaces what is already stored under the digest, atomically: a
// reader that opened the old content reads it whole, a later one the new.
func testCommitReplaces(t *testing.T, d storage.Driver) {
	ctx := context.Background()
	dg := Put(t, d, "first", []byte("damaged content"))
	old, err := d.Open(ctx, dg)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	st, err := d.Stage(ctx, "second", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	st.Write([]byte("healed"))
	if err := st.Commit(ctx, dg); err != nil {
		t.Fatalf("committing over stored content: %v", err)
	}
	if b, _ := io.ReadAll(old); string(b) != "damaged content" {
		t.Fatalf("a reader of the old content read %q", b)
	}
	rc, err := d.Open(ctx, dg)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if b, _ := io.ReadAll(rc); string(b) != "healed" {
		t.Fatalf("after the second commit: %q", b)
	}
	if n, _ := d.Stat(ctx, dg); n != 6 {
		t.Fatalf("Stat after the second commit = %d", n)
	}
}

// testConcurrentCommits commits one digest from several uploads at once,
// round after round, as pushes of a shared layer through several hub nodes
// do: whichever wins, the blob must be there afterwards.
func testConcurrentCommits(t *testing.T, d storage.Driver) {
	ctx := context.Background()
	for round := range 8 {
		content := []byte(fmt.Sprintf("a layer pushed by several clients at once, round %d", round))
		dg := digest.FromBytes(content)
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for i := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st, err := d.Stage(ctx, fmt.Sprintf("r%du%d", round, i), 0, nil)
				if err == nil {
					_, err = st.Write(content)
				}
				if err == nil {
					err = st.Commit(ctx, dg)
				}
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("round %d: commit: %v", round, err)
			}
		}
		if got := Read(t, d, dg); !bytes.Equal(got, content) {
			t.Fatalf("round %d: after concurrent commits the blob reads %q", round, got)
		}
		if n, err := d.Stat(ctx, dg); err != nil || n != int64(len(content)) {
			t.Fatalf("round %d: after concurrent commits Stat = %d, %v", round, n, err)
		}
	}
}

// Staged data no commit took is listed, with its size, under a name
// RemoveUpload takes (the upload's id, or another the driver gives it),
// and RemoveUpload of that name removes it.
func testUploadsAndRemove(t *testing.T, d storage.Driver) {
	ctx := context.Background()
	st, _ := d.Stage(ctx, "up5", 0, nil)
	st.Write(make([]byte, 1234))
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, _ = d.Stage(ctx, "up6", 0, nil)
	st.Close()
	listed := func() map[string]int64 {
		found := map[string]int64{}
		err := d.Uploads(ctx, func(id string, size int64, modified time.Time) error {
			if time.Since(modified) > time.Minute || modified.After(time.Now().Add(time.Minute)) {
				t.Errorf("upload %s modified at %v", id, modified)
			}
			found[id] = size
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return found
	}
	found := listed()
	var name string
	for id, size := range found {
		if size == 1234 {
			name = id
		} else if size != 0 {
			t.Errorf("listed %s with %d bytes", id, size)
		}
	}
	if name == "" {
		t.Fatalf("Uploads = %v: no entry for the 1234 bytes staged", found)
	}
	if err := d.RemoveUpload(ctx, name); err != nil {
		t.Fatal(err)
	}
	if _, ok := listed()[name]; ok {
		t.Fatalf("%s still listed after RemoveUpload", name)
	}
	if err := d.RemoveUpload(ctx, name); err != nil {
		t.Fatalf("removing twice: %v", err)
	}
}

func testDeleteAndWalk(t *testing.T, d storage.Driver) {
	ctx := context.Background()
	a := Put(t, d, "wa", []byte("blob a"))
	b := Put(t, d, "wb", bytes.Repeat([]byte("b"), 100))
	seen := map[digest.Digest]int64{}
	if err := d.Walk(ctx, func(dg digest.Digest, size int64, _ time.Time) error { seen[dg] = size; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[a] != 6 || seen[b] != 100 {
		t.Fatalf("Walk saw %v", seen)
	}
	if err := d.Delete(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(ctx, a); err != nil {
		t.Fatalf("deleting a missing blob: %v", err)
	}
	if _, err := d.Stat(ctx, a); !errdefs.IsNotFound(err) {
		t.Fatalf("Stat after Delete: %v", err)
	}
	if _, err := d.Stat(ctx, b); err != nil {
		t.Fatalf("Delete of one blob touched another: %v", err)
	}
}

func testHostileNames(t *testing.T, d storage.Driver) {
	ctx := context.Background()
	for _, id := range []string{"../escape", "a/b", "", "..", ".state"} {
		if _, err := d.Stage(ctx, id, 0, nil); !errdefs.IsInvalidArgument(err) {
			t.Errorf("Stage(%q): %v, want an invalid argument", id, err)
		}
		if _, _, err := d.ReadStaged(ctx, id, nil); !errdefs.IsInvalidArgument(err) {
			t.Errorf("ReadStaged(%q): %v, want an invalid argument", id, err)
		}
		if err := d.RemoveUpload(ctx, id); !errdefs.IsInvalidArgument(err) {
			t.Errorf("RemoveUpload(%q): %v, want an invalid argument", id, err)
		}
	}
	for _, dg := range []digest.Digest{"sha256:../../etc/passwd", "sha256:abc", "nope"} {
		if _, err := d.Open(ctx, dg); !errdefs.IsInvalidArgument(err) {
			t.Errorf("Open(%q): %v, want an invalid argument", dg, err)
		}
	}
}

// A driver that commits exactly what its recorded states describe
// (storage.ExactCommitter) does so whatever a writer that lost its lease
// does: here a stale writer, staged from the same state as the one that
// recorded, writes other bytes after it (a part of the same number, a
// tail of its own). The commit from the recorded state makes those bytes
// the blob, or fails; never the stale writer's.
func testExactCommit(t *testing.T, d storage.Driver) {
	if _, ok := d.(storage.ExactCommitter); !ok {
		t.Skip("the driver does not promise exact commits: the Store reads its staged bytes back")
	}
	ctx := context.Background()
	const n = 6 << 20 // past S3's least part
	head, mine, stale := bytes.Repeat([]byte("h"), n), bytes.Repeat([]byte("m"), n+7), bytes.Repeat([]byte("s"), n+7)
	st, _ := d.Stage(ctx, "exact", 0, nil)
	st.Write(head)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	base := st.State()
	writer, err := d.Stage(ctx, "exact", n, base)
	if err != nil {
		t.Fatal(err)
	}
	late, err := d.Stage(ctx, "exact", n, base)
	if err != nil {
		t.Fatal(err)
	}
	writer.Write(mine)
	if err := writer.Close(); err != nil {
		t.Fatal(err)
	}
	recorded := writer.State()
	late.Write(stale)
	late.Close()
	want := append(append([]byte{}, head...), mine...)
	dg := digest.FromBytes(want)
	st, err = d.Stage(ctx, "exact", int64(len(want)), recorded)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Commit(ctx, dg); err != nil {
		if _, serr := d.Stat(ctx, dg); !errdefs.IsNotFound(serr) {
			t.Fatalf("a failed commit (%v) left the blob visible: %v", err, serr)
		}
		return
	}
	if got := Read(t, d, dg); !bytes.Equal(got, want) {
		t.Fatalf("the commit from the recorded state holds other bytes (%d, a stale writer's?)", len(got))
	}
}
