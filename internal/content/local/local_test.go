package local

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"os/exec"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-dev/strata/internal/content"
	"github.com/strata-dev/strata/internal/content/contenttest"
)

func TestConformance(t *testing.T) {
	contenttest.Run(t, func(t *testing.T) content.Store {
		s, err := New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestMain lets the test binary play a writer process that dies mid-write.
func TestMain(m *testing.M) {
	if root := os.Getenv("STRATA_TEST_HALF_WRITE"); root != "" {
		s, err := New(root)
		if err != nil {
			os.Exit(2)
		}
		w, err := s.Writer(context.Background(), "crash", ocispec.Descriptor{})
		if err != nil {
			os.Exit(3)
		}
		w.Write(bytes.Repeat([]byte("x"), 5000))
		os.Exit(0) // no Close, no Commit: as if killed
	}
	os.Exit(m.Run())
}

// TestResumeAfterProcessDies: a writer process that dies leaves no blob, and
// its ingest is resumed by ref in another process.
func TestResumeAfterProcessDies(t *testing.T) {
	root := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "STRATA_TEST_HALF_WRITE="+root)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("writer process: %v\n%s", err, out)
	}
	s, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	n := 0
	s.Walk(ctx, func(content.Info) error { n++; return nil })
	if n != 0 {
		t.Fatalf("%d blobs visible after a writer died mid-write", n)
	}
	tail := make([]byte, 3000)
	rand.Read(tail)
	full := append(bytes.Repeat([]byte("x"), 5000), tail...)
	desc := ocispec.Descriptor{Digest: digest.FromBytes(full), Size: int64(len(full))}
	if _, err := content.WriteBlob(ctx, s, "crash", bytes.NewReader(full), desc); err != nil {
		t.Fatalf("resume: %v", err)
	}
	got, err := content.ReadBlob(ctx, s, desc, desc.Size)
	if err != nil || !bytes.Equal(got, full) {
		t.Fatalf("resumed blob differs: %v", err)
	}
}

// TestTornStatus: status.json is not synced, so a crash may leave it
// empty or half written; the next Writer for the ref starts the ingest
// over rather than failing on it.
func TestTornStatus(t *testing.T) {
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	w, err := s.Writer(ctx, "torn", ocispec.Descriptor{})
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("left from before the crash"))
	w.Close()
	dir := s.ingestDir("torn")
	for _, torn := range []string{"", `{"ref":"to`} {
		if err := os.WriteFile(dir+"/status.json", []byte(torn), 0o644); err != nil {
			t.Fatal(err)
		}
		w, err := s.Writer(ctx, "torn", ocispec.Descriptor{})
		if err != nil {
			t.Fatalf("Writer after a torn status %q: %v", torn, err)
		}
		if st, _ := w.Status(); st.Offset != 0 || st.Ref != "torn" {
			t.Errorf("after a torn status %q: status %+v, want a fresh ingest of ref torn", torn, st)
		}
		body := []byte("blob " + torn)
		w.Write(body)
		if err := w.Commit(ctx, int64(len(body)), digest.FromBytes(body)); err != nil {
			t.Fatalf("commit after a torn status %q: %v", torn, err)
		}
		w, err = s.Writer(ctx, "torn", ocispec.Descriptor{}) // for the next round
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte("again"))
		w.Close()
	}
}
