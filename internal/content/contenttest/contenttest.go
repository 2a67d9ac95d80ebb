// Package contenttest is the conformance suite for content.Store: every
// implementation runs it from its own tests with
//
//	contenttest.Run(t, func(t *testing.T) content.Store { return newStore(t) })
//
// It checks the contract written in package content's doc comment.
package contenttest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-dev/strata/internal/content"
	"github.com/strata-dev/strata/internal/errdefs"
)

// Run runs the suite; newStore returns an empty store for each subtest.
func Run(t *testing.T, newStore func(t *testing.T) content.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s content.Store)
	}{
		{"WriteThenRead", testWriteThenRead},
		{"EmptyBlob", testEmptyBlob},
		{"AlreadyExists", testAlreadyExists},
		{"SizeMismatchLeavesNothing", testSizeMismatch},
		{"DigestMismatchLeavesNothing", testDigestMismatch},
		{"WritePastExpectedSize", testWritePastSize},
		{"ResumeByRef", testResume},
		{"WriteBlobResumes", testWriteBlobResumes},
		{"RefHasOneWriter", testRefLocked},
		{"Truncate", testTruncate},
		{"AbortAndStatus", testAbort},
		{"WalkSeesOnlyCommitted", testWalk},
		{"Delete", testDelete},
		{"NotFound", testNotFound},
		{"ConcurrentSameContent", testConcurrentSameContent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

var ctx = context.Background()

func random(t *testing.T, n int) ([]byte, ocispec.Descriptor) {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b, ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(b), Size: int64(n)}
}

func mustWriter(t *testing.T, s content.Store, ref string, desc ocispec.Descriptor) content.Writer {
	t.Helper()
	w, err := s.Writer(ctx, ref, desc)
	if err != nil {
		t.Fatalf("Writer(%q): %v", ref, err)
	}
	return w
}

func mustWrite(t *testing.T, w content.Writer, b []byte) {
	t.Helper()
	if n, err := w.Write(b); err != nil || n != len(b) {
		t.Fatalf("Write: %d, %v", n, err)
	}
}

func wantErr(t *testing.T, what string, err, class error) {
	t.Helper()
	if !errors.Is(err, class) {
		t.Fatalf("%s: got error %v, want %v", what, err, class)
	}
}

// checkBlob asserts that the store holds exactly b under desc.
func checkBlob(t *testing.T, s content.Store, desc ocispec.Descriptor, b []byte) {
	t.Helper()
	info, err := s.Info(ctx, desc.Digest)
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	if info.Digest != desc.Digest || info.Size != int64(len(b)) {
		t.Fatalf("Info = %s %d, want %s %d", info.Digest, info.Size, desc.Digest, len(b))
	}
	got, err := content.ReadBlob(ctx, s, desc, int64(len(b)))
	if err != nil {
		t.Fatalf("ReadBlob: %v", err)
	}
	if !bytes.Equal(got, b) {
		t.Fatal("stored content differs from what was written")
	}
}

// checkAbsent asserts that neither a blob nor an ingest is left.
func checkAbsent(t *testing.T, s content.Store, dgst digest.Digest, ref string) {
	t.Helper()
	_, err := s.Info(ctx, dgst)
	wantErr(t, "Info of a blob that must not exist", err, errdefs.ErrNotFound)
	if ref != "" {
		_, err = s.Status(ctx, ref)
		wantErr(t, "Status of an ingest that must be gone", err, errdefs.ErrNotFound)
	}
}

func testWriteThenRead(t *testing.T, s content.Store) {
	b, desc := random(t, 300_000)
	w := mustWriter(t, s, "ref-a", desc)
	mustWrite(t, w, b[:1000])
	mustWrite(t, w, b[1000:])
	if w.Digest() != desc.Digest {
		t.Fatalf("Digest = %s, want %s", w.Digest(), desc.Digest)
	}
	if err := w.Commit(ctx, desc.Size, desc.Digest); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	checkBlob(t, s, desc, b)
	_, err := s.Status(ctx, "ref-a")
	wantErr(t, "Status after commit", err, errdefs.ErrNotFound)
	ra, err := s.ReaderAt(ctx, desc)
	if err != nil {
		t.Fatal(err)
	}
	defer ra.Close()
	part := make([]byte, 10)
	if _, err := ra.ReadAt(part, 5000); err != nil || !bytes.Equal(part, b[5000:5010]) {
		t.Fatalf("ReadAt(5000) = %x, %v", part, err)
	}
}

func testEmptyBlob(t *testing.T, s content.Store) {
	desc := ocispec.Descriptor{Digest: digest.FromBytes(nil)}
	if _, err := content.WriteBlob(ctx, s, "empty", bytes.NewReader(nil), desc); err != nil {
		t.Fatalf("WriteBlob(empty): %v", err)
	}
	checkBlob(t, s, desc, nil)
}

func testAlreadyExists(t *testing.T, s content.Store) {
	b, desc := random(t, 100)
	if _, err := content.WriteBlob(ctx, s, "first", bytes.NewReader(b), desc); err != nil {
		t.Fatal(err)
	}
	_, err := s.Writer(ctx, "second", desc)
	wantErr(t, "Writer for stored content", err, errdefs.ErrAlreadyExists)
	// Without the digest up front, the clash shows at Commit.
	w := mustWriter(t, s, "third", ocispec.Descriptor{})
	mustWrite(t, w, b)
	wantErr(t, "Commit of stored content", w.Commit(ctx, 0, ""), errdefs.ErrAlreadyExists)
	checkBlob(t, s, desc, b)
	_, err = s.Status(ctx, "third")
	wantErr(t, "Status of a committed duplicate", err, errdefs.ErrNotFound)
	if dgst, err := content.WriteBlob(ctx, s, "fourth", bytes.NewReader(b), desc); err != nil || dgst != desc.Digest {
		t.Fatalf("WriteBlob of stored content = %s, %v", dgst, err)
	}
}

func testSizeMismatch(t *testing.T, s content.Store) {
	b, desc := random(t, 100)
	w := mustWriter(t, s, "short", ocispec.Descriptor{})
	mustWrite(t, w, b[:50])
	wantErr(t, "Commit with a wrong size", w.Commit(ctx, desc.Size, desc.Digest), errdefs.ErrInvalidArgument)
	checkAbsent(t, s, desc.Digest, "short")
	checkAbsent(t, s, digest.FromBytes(b[:50]), "")
}

func testDigestMismatch(t *testing.T, s content.Store) {
	b, desc := random(t, 100)
	other := digest.FromString("something else")
	w := mustWriter(t, s, "corrupt", ocispec.Descriptor{Digest: other, Size: desc.Size})
	mustWrite(t, w, b)
	wantErr(t, "Commit of content with another digest", w.Commit(ctx, desc.Size, ""), errdefs.ErrInvalidArgument)
	checkAbsent(t, s, desc.Digest, "corrupt")
	checkAbsent(t, s, other, "")
}

func testWritePastSize(t *testing.T, s content.Store) {
	b, desc := random(t, 100)
	w := mustWriter(t, s, "long", ocispec.Descriptor{Size: 10})
	if _, err := w.Write(b); err == nil {
		t.Fatal("Write of 100 bytes into a 10-byte ingest succeeded")
	}
	w.Close()
	s.Abort(ctx, "long")
	checkAbsent(t, s, desc.Digest, "long")
}

func testResume(t *testing.T, s content.Store) {
	b, desc := random(t, 64_000)
	w := mustWriter(t, s, "resume", desc)
	mustWrite(t, w, b[:20_000])
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := s.Status(ctx, "resume")
	if err != nil || st.Offset != 20_000 || st.Total != desc.Size || st.Ref != "resume" {
		t.Fatalf("Status after Close = %+v, %v; want offset 20000 of %d", st, err, desc.Size)
	}
	_, err = s.Info(ctx, desc.Digest)
	wantErr(t, "Info of an unfinished blob", err, errdefs.ErrNotFound)
	w = mustWriter(t, s, "resume", ocispec.Descriptor{})
	if st, _ := w.Status(); st.Offset != 20_000 {
		t.Fatalf("resumed writer at offset %d, want 20000", st.Offset)
	}
	mustWrite(t, w, b[20_000:])
	if err := w.Commit(ctx, 0, ""); err != nil { // checked against what it was opened with
		t.Fatalf("Commit of the resumed ingest: %v", err)
	}
	checkBlob(t, s, desc, b)
}

func testWriteBlobResumes(t *testing.T, s content.Store) {
	b, desc := random(t, 10_000)
	w := mustWriter(t, s, "helper", desc)
	mustWrite(t, w, b[:4000])
	w.Close()
	if _, err := content.WriteBlob(ctx, s, "helper", bytes.NewReader(b), desc); err != nil {
		t.Fatalf("WriteBlob resuming from a seeker: %v", err)
	}
	checkBlob(t, s, desc, b)
	b2, desc2 := random(t, 10_000)
	w = mustWriter(t, s, "stream", desc2)
	mustWrite(t, w, b2[:7000])
	w.Close()
	if _, err := content.WriteBlob(ctx, s, "stream", io.MultiReader(bytes.NewReader(b2)), desc2); err != nil {
		t.Fatalf("WriteBlob resuming from a stream: %v", err)
	}
	checkBlob(t, s, desc2, b2)
}

func testRefLocked(t *testing.T, s content.Store) {
	w := mustWriter(t, s, "busy", ocispec.Descriptor{})
	_, err := s.Writer(ctx, "busy", ocispec.Descriptor{})
	wantErr(t, "second Writer for a held ref", err, errdefs.ErrUnavailable)
	w.Close()
	w = mustWriter(t, s, "busy", ocispec.Descriptor{})
	w.Close()
}

func testTruncate(t *testing.T, s content.Store) {
	b, desc := random(t, 1000)
	w := mustWriter(t, s, "trunc", ocispec.Descriptor{})
	mustWrite(t, w, []byte("garbage"))
	if err := w.Truncate(0); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, w, b)
	if err := w.Commit(ctx, desc.Size, desc.Digest); err != nil {
		t.Fatalf("Commit after Truncate: %v", err)
	}
	checkBlob(t, s, desc, b)
}

func testAbort(t *testing.T, s content.Store) {
	b, desc := random(t, 1000)
	for _, ref := range []string{"x", "y"} {
		w := mustWriter(t, s, ref, ocispec.Descriptor{})
		mustWrite(t, w, b[:10])
		w.Close()
	}
	sts, err := s.ListStatuses(ctx)
	if err != nil || len(sts) != 2 {
		t.Fatalf("ListStatuses = %+v, %v; want 2 ingests", sts, err)
	}
	if err := s.Abort(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	checkAbsent(t, s, desc.Digest, "x")
	wantErr(t, "Abort of an unknown ref", s.Abort(ctx, "x"), errdefs.ErrNotFound)
	if st, err := s.Status(ctx, "y"); err != nil || st.Offset != 10 {
		t.Fatalf("Status(y) = %+v, %v", st, err)
	}
}

func testWalk(t *testing.T, s content.Store) {
	want := map[digest.Digest]int64{}
	for i := 0; i < 3; i++ {
		b, desc := random(t, 100+i)
		if _, err := content.WriteBlob(ctx, s, desc.Digest.String(), bytes.NewReader(b), desc); err != nil {
			t.Fatal(err)
		}
		want[desc.Digest] = desc.Size
	}
	w := mustWriter(t, s, "unfinished", ocispec.Descriptor{})
	mustWrite(t, w, []byte("partial"))
	w.Close()
	got := map[digest.Digest]int64{}
	if err := s.Walk(ctx, func(i content.Info) error { got[i.Digest] = i.Size; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("Walk saw %v, want %v", got, want)
	}
	for d, n := range want {
		if got[d] != n {
			t.Fatalf("Walk: %s has size %d, want %d", d, got[d], n)
		}
	}
	stop := errors.New("stop")
	if err := s.Walk(ctx, func(content.Info) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("Walk did not return the callback's error: %v", err)
	}
}

func testDelete(t *testing.T, s content.Store) {
	b, desc := random(t, 100)
	if _, err := content.WriteBlob(ctx, s, "del", bytes.NewReader(b), desc); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, desc.Digest); err != nil {
		t.Fatal(err)
	}
	checkAbsent(t, s, desc.Digest, "")
	wantErr(t, "second Delete", s.Delete(ctx, desc.Digest), errdefs.ErrNotFound)
	if _, err := content.WriteBlob(ctx, s, "again", bytes.NewReader(b), desc); err != nil {
		t.Fatalf("writing a deleted blob again: %v", err)
	}
	checkBlob(t, s, desc, b)
}

func testNotFound(t *testing.T, s content.Store) {
	d := digest.FromString("absent")
	_, err := s.ReaderAt(ctx, ocispec.Descriptor{Digest: d})
	wantErr(t, "ReaderAt of an absent blob", err, errdefs.ErrNotFound)
	_, err = s.Info(ctx, "sha256:not-a-digest")
	wantErr(t, "Info of a malformed digest", err, errdefs.ErrInvalidArgument)
	_, err = s.Status(ctx, "nobody")
	wantErr(t, "Status of an unknown ref", err, errdefs.ErrNotFound)
}

func testConcurrentSameContent(t *testing.T, s content.Store) {
	b, desc := random(t, 200_000)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			ref := "concurrent-" + string(rune('a'+i))
			_, err := content.WriteBlob(ctx, s, ref, bytes.NewReader(b), desc)
			errs <- err
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent WriteBlob: %v", err)
		}
	}
	checkBlob(t, s, desc, b)
	n := 0
	s.Walk(ctx, func(content.Info) error { n++; return nil })
	if n != 1 {
		t.Fatalf("%d blobs stored, want 1", n)
	}
}
