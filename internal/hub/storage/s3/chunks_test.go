package s3_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/storage"
	"github.com/strata-dev/strata/internal/hub/storage/s3"
	"github.com/strata-dev/strata/internal/hub/storage/storagetest"
)

const mib = 1 << 20

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// appendChunk stages one chunk at the upload's end and closes it, as one
// PATCH does, and returns the size and state the Store would record.
func appendChunk(t *testing.T, d storage.Driver, id string, offset int64, state []byte, chunk []byte) (int64, []byte) {
	t.Helper()
	st, err := d.Stage(context.Background(), id, offset, state)
	if err != nil {
		t.Fatalf("Stage at %d: %v", offset, err)
	}
	if _, err := st.Write(chunk); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return st.Size(), st.State() // after Close, as storage.Store reads them
}

// commitAndCheck commits what upload id holds at size/state, on d, as the
// blob of want, and reads it back.
func commitAndCheck(t *testing.T, d storage.Driver, id string, size int64, state, want []byte) {
	t.Helper()
	st, err := d.Stage(context.Background(), id, size, state)
	if err != nil {
		t.Fatal(err)
	}
	dg := digest.FromBytes(want)
	if err := st.Commit(context.Background(), dg); err != nil {
		t.Fatal(err)
	}
	if got := storagetest.Read(t, d, dg); !bytes.Equal(got, want) {
		t.Fatalf("the blob read back differs (%d bytes, want %d)", len(got), len(want))
	}
}

// Chunks of every size, each PATCH on the other of two nodes (drivers with
// nothing shared but the bucket), become one blob byte for byte: full
// parts go to the multipart upload, and what is left of a chunk waits in
// the store for the next one.
func TestChunksAcrossNodes(t *testing.T) {
	a := newDriver(t, "hub")
	b := sameBucket(t, a)
	for _, tc := range []struct {
		name   string
		chunks []int
	}{
		{"one small", []int{1000}},
		{"one over a part", []int{11 * mib}},
		{"many small", []int{mib, mib, mib, mib, mib, mib, 512}},
		{"minimum chunks", []int{5 * mib, 5 * mib, 5 * mib}},
		{"odd sizes", []int{3*mib + 7, 9*mib + 1, 100, 2 * mib}},
		{"empty then some", []int{0, 6 * mib}},
		{"small tails", []int{1000, 2000, 300 << 10, 10}},
		{"a small tail then parts", []int{4096, 9 * mib}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var all []byte
			var offset int64
			var state []byte
			id := "up-" + digest.FromString(tc.name).Encoded()[:16]
			for i, n := range tc.chunks {
				chunk := randomBytes(n)
				all = append(all, chunk...)
				node := []storage.Driver{a, b}[i%2]
				offset, state = appendChunk(t, node, id, offset, state, chunk)
			}
			if offset != int64(len(all)) {
				t.Fatalf("size %d after the chunks, want %d", offset, len(all))
			}
			// Read back before the commit (for a digest other than sha256), on the other node.
			rc, readState, err := b.ReadStaged(context.Background(), id, state)
			if err != nil {
				t.Fatal(err)
			}
			staged, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatalf("ReadStaged: %v", err)
			}
			if !bytes.Equal(staged, all) {
				t.Fatalf("ReadStaged: %d bytes, differing from the %d written", len(staged), len(all))
			}
			st, err := a.Stage(context.Background(), id, offset, readState)
			if err != nil {
				t.Fatal(err)
			}
			dg := digest.FromBytes(all)
			if err := st.Commit(context.Background(), dg); err != nil {
				t.Fatal(err)
			}
			for _, node := range []storage.Driver{a, b} {
				if n, err := node.Stat(context.Background(), dg); err != nil || n != int64(len(all)) {
					t.Fatalf("Stat = %d, %v", n, err)
				}
				if got := storagetest.Read(t, node, dg); !bytes.Equal(got, all) {
					t.Fatalf("the blob read back differs (%d bytes, want %d)", len(got), len(all))
				}
			}
		})
	}
}

// A node that dies after writing a chunk but before recording its state
// leaves the state at the size before that chunk: the next chunk resumes
// there, even when the lost chunk had sent parts of the same numbers.
func TestResumeWhereTheStateSays(t *testing.T) {
	d := newDriver(t, "hub")
	first, lost, again := randomBytes(3*mib), randomBytes(7*mib), randomBytes(6*mib)
	size, state := appendChunk(t, d, "crash", 0, nil, first)
	appendChunk(t, d, "crash", size, state, lost) // its state is never recorded
	end, state := appendChunk(t, d, "crash", size, state, again)
	want := append(append([]byte{}, first...), again...)
	if end != int64(len(want)) {
		t.Fatalf("size %d, want %d", end, len(want))
	}
	commitAndCheck(t, d, "crash", end, state, want) // not the lost chunk's bytes
	// Within sent parts it refuses rather than guess.
	_, state = appendChunk(t, d, "cut", 0, nil, randomBytes(12*mib))
	if _, err := d.Stage(context.Background(), "cut", 6*mib, state); !errdefs.IsConflict(err) {
		t.Fatalf("resuming inside a sent part: %v, want a conflict", err)
	}
}

// A completed upload that is read back and then cancelled leaves no
// multipart upload; what it wrote is listed as orphaned content (no
// marker names it), which RemoveUpload of that name deletes.
func TestRemoveAfterReadBack(t *testing.T) {
	ctx := context.Background()
	d := newDriver(t, "hub")
	_, state := appendChunk(t, d, "gone", 0, nil, randomBytes(11*mib))
	rc, _, err := d.ReadStaged(ctx, "gone", state)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, rc)
	rc.Close()
	if err := d.RemoveUpload(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	var left []string
	d.Uploads(ctx, func(id string, _ int64, _ time.Time) error { left = append(left, id); return nil })
	for _, id := range left {
		if !strings.HasPrefix(id, "orphan-gone.") {
			t.Fatalf("after RemoveUpload, Uploads lists %v", left)
		}
		if err := d.RemoveUpload(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	left = nil
	d.Uploads(ctx, func(id string, _ int64, _ time.Time) error { left = append(left, id); return nil })
	if len(left) != 0 {
		t.Fatalf("after removing the orphans, Uploads lists %v", left)
	}
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want s3.Options
		bad  bool
	}{
		{url: "s3://bucket", want: s3.Options{Bucket: "bucket"}},
		{url: "s3://bucket/some/prefix/?region=eu-west-1", want: s3.Options{Bucket: "bucket", Prefix: "some/prefix", Region: "eu-west-1"}},
		{url: "s3://b/p?endpoint=http://127.0.0.1:8333", want: s3.Options{Bucket: "b", Prefix: "p", Endpoint: "http://127.0.0.1:8333", PathStyle: true}},
		{url: "s3://b?endpoint=https://s3.example.com&path-style=false", want: s3.Options{Bucket: "b", Endpoint: "https://s3.example.com"}},
		{url: "s3://key:secret@b/p", bad: true},
		{url: "s3:///nobucket", bad: true},
		{url: "file:///tmp", bad: true},
		{url: "s3://b?endpoint=ftp://x", bad: true},
		{url: "s3://b?endpoint=127.0.0.1:8333", bad: true},
		{url: "s3://b?path-style=maybe", bad: true},
		{url: "s3://b?secret=x", bad: true},
	} {
		got, err := s3.ParseURL(tc.url)
		if tc.bad {
			if !errdefs.IsInvalidArgument(err) {
				t.Errorf("ParseURL(%q) = %+v, %v; want an invalid argument", tc.url, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseURL(%q) = %+v, %v; want %+v", tc.url, got, err, tc.want)
		}
	}
}
