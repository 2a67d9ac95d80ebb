package storage_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/meta"
	"github.com/strata-dev/strata/internal/hub/storage"
)

// withOptions is a store over p's parts with other options.
func withOptions(p *hubParts, c *clock, o storage.Options) *storage.Store {
	o.Now = c.Now
	return storage.New(p.drv, p.meta, o)
}

// stalled is a request body that sends head, then waits for more until released.
type stalled struct {
	head    []byte
	more    chan []byte
	started chan struct{}
}

func newStalled(head []byte) *stalled {
	return &stalled{head: head, more: make(chan []byte), started: make(chan struct{})}
}

func (s *stalled) Read(p []byte) (int, error) {
	if len(s.head) > 0 {
		n := copy(p, s.head)
		s.head = s.head[n:]
		return n, nil
	}
	select {
	case <-s.started:
	default:
		close(s.started)
	}
	b, ok := <-s.more
	if !ok {
		return 0, io.EOF
	}
	return copy(p, b), nil
}

// One request writes an upload at a time: while a chunk is streaming,
// another chunk, the closing PUT and a cancel are refused, and they work
// once it is done.
func TestOneWriterPerUpload(t *testing.T) {
	ctx := context.Background()
	c := &clock{}
	p := open(t, t.TempDir(), c)
	u, _ := p.store.StartUpload(ctx, "r", "alice")
	body := newStalled(bytes.Repeat([]byte("a"), 10))
	done := make(chan error, 1)
	go func() { _, err := p.store.Append(ctx, "r", u.ID, 0, body); done <- err }()
	<-body.started
	content := bytes.Repeat([]byte("a"), 10)
	for what, try := range map[string]func() error{
		"a second chunk": func() error { _, err := p.store.Append(ctx, "r", u.ID, -1, bytes.NewReader([]byte("b"))); return err },
		"the closing PUT": func() error {
			_, err := p.store.Finish(ctx, "r", u.ID, -1, nil, digest.FromBytes(content))
			return err
		},
		"a cancel": func() error { return p.store.Cancel(ctx, "r", u.ID) },
	} {
		if err := try(); !errors.Is(err, storage.ErrUploadBusy) {
			t.Errorf("%s while a chunk streams: %v, want busy", what, err)
		}
	}
	close(body.more)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := p.store.Finish(ctx, "r", u.ID, 10, nil, digest.FromBytes(content)); err != nil {
		t.Fatalf("closing once the chunk is in: %v", err)
	}
}

// A writer whose lease ran out (its process stalled past it, and another
// took the upload over) writes nothing more, and records nothing.
func TestWriterThatLostItsLease(t *testing.T) {
	ctx := context.Background()
	c := &clock{}
	p := open(t, t.TempDir(), c)
	u, _ := p.store.StartUpload(ctx, "r", "alice")
	body := newStalled([]byte("first"))
	done := make(chan error, 1)
	go func() { _, err := p.store.Append(ctx, "r", u.ID, 0, body); done <- err }()
	<-body.started
	c.Advance(time.Minute) // past the writer's 30s lease, with no renewal in between
	now := c.Now()
	if _, err := p.meta.LeaseUpload(ctx, "r", u.ID, now, meta.Lease{Holder: "other", Until: now.Add(time.Hour)}); err != nil {
		t.Fatalf("taking over the lapsed lease: %v", err)
	}
	body.more <- []byte("-late")
	close(body.more)
	if err := <-done; !errors.Is(err, storage.ErrLeaseLost) && !errdefs.IsConflict(err) {
		t.Fatalf("the writer that lost its lease: %v", err)
	}
	b, _ := os.ReadFile(filepath.Join(p.dir, "content", "uploads", u.ID))
	if bytes.Contains(b, []byte("late")) {
		t.Fatalf("the writer wrote after losing its lease: %q", b)
	}
	if got, _ := p.meta.Upload(ctx, "r", u.ID); got.Offset != 0 {
		t.Fatalf("the writer recorded an offset after losing its lease: %d", got.Offset)
	}
}

// The hub died while it committed a blob: its pending record is left,
// under a lease its dead writer no longer renews. Pushing the blob again
// takes the record over at once.
func TestRepushAfterCrash(t *testing.T) {
	ctx := context.Background()
	c := &clock{}
	dir := t.TempDir()
	p := open(t, dir, c)
	content := []byte("a layer pushed when the hub died")
	d := digest.FromBytes(content)
	now := c.Now()
	if st, err := p.meta.LinkOrReserve(ctx, "r", d, int64(len(content)), now, meta.Lease{Holder: "dead", Until: now.Add(time.Hour)}, 0); err != nil || st != meta.BlobAbsent {
		t.Fatalf("the dead writer's reservation: %v, %v", st, err)
	}
	p.meta.Close()
	p = open(t, dir, c) // restart
	if _, err := p.store.Put(ctx, "r", "alice", d, bytes.NewReader(content)); err != nil {
		t.Fatalf("pushing again after the crash: %v", err)
	}
	if got := read(t, p.store, "r", d); !bytes.Equal(got, content) {
		t.Fatalf("served %q", got)
	}
}

// The staged bytes are checked as they are committed: bytes changed after
// they were recorded fail the digest, bytes past the recorded end (a write
// a crash cut short) are not part of the blob, and missing bytes are an error.
func TestFinishChecksTheCommittedBytes(t *testing.T) {
	ctx := context.Background()
	content := bytes.Repeat([]byte("0123456789"), 1000)
	for _, tc := range []struct {
		name   string
		tamper func(f *os.File)
		ok     bool
	}{
		{"untouched", func(*os.File) {}, true},
		{"a byte changed", func(f *os.File) { f.WriteAt([]byte("X"), 5000) }, false},
		{"bytes past the recorded end", func(f *os.File) { f.WriteAt([]byte("garbage"), int64(len(content))) }, true},
		{"bytes missing", func(f *os.File) { f.Truncate(100) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := open(t, t.TempDir(), &clock{})
			u, _ := p.store.StartUpload(ctx, "r", "alice")
			if _, err := p.store.Append(ctx, "r", u.ID, 0, bytes.NewReader(content)); err != nil {
				t.Fatal(err)
			}
			f, _ := os.OpenFile(filepath.Join(p.dir, "content", "uploads", u.ID), os.O_RDWR, 0)
			tc.tamper(f)
			f.Close()
			_, err := p.store.Finish(ctx, "r", u.ID, -1, nil, digest.FromBytes(content))
			if (err == nil) != tc.ok {
				t.Fatalf("Finish: %v, want success %v", err, tc.ok)
			}
			if _, rerr := p.store.Stat(ctx, "r", digest.FromBytes(content)); (rerr == nil) != tc.ok {
				t.Fatalf("the blob after Finish: %v", rerr)
			}
			if tc.ok {
				if got := read(t, p.store, "r", digest.FromBytes(content)); !bytes.Equal(got, content) {
					t.Fatal("the blob is not the content")
				}
			}
		})
	}
}

// Limits an operator sets: a blob's size, uploads at once, a namespace's quota.
func TestUploadLimits(t *testing.T) {
	ctx := context.Background()
	c := &clock{}
	p := open(t, t.TempDir(), c)
	s := withOptions(p, c, storage.Options{MaxBlobSize: 100, MaxUploads: 2, Quota: 150})
	big := bytes.Repeat([]byte("b"), 101)
	var tl *storage.TooLargeError
	if _, err := s.Put(ctx, "alice/a", "alice", digest.FromBytes(big), bytes.NewReader(big)); !errors.As(err, &tl) || tl.Limit != 100 {
		t.Fatalf("a blob over the limit in one go: %v", err)
	}
	u, _ := s.StartUpload(ctx, "alice/a", "alice")
	if _, err := s.Append(ctx, "alice/a", u.ID, 0, bytes.NewReader(big)); !errors.As(err, &tl) {
		t.Fatalf("a chunk past the limit: %v", err)
	}
	s.Cancel(ctx, "alice/a", u.ID)
	var le *meta.LimitError
	s.StartUpload(ctx, "alice/a", "alice")
	s.StartUpload(ctx, "alice/a", "alice")
	if _, err := s.StartUpload(ctx, "alice/a", "alice"); !errors.As(err, &le) {
		t.Fatalf("a third upload at once: %v", err)
	}
	if _, err := s.Put(ctx, "alice/a", "alice", digest.FromString("x"), bytes.NewReader([]byte("x"))); !errors.As(err, &le) {
		t.Fatalf("a monolithic upload past the limit: %v", err)
	}
	if _, err := s.StartUpload(ctx, "bob/a", "bob"); err != nil {
		t.Fatalf("another user's upload: %v", err)
	}
	var qe *meta.QuotaError
	for i, size := range []int{100, 100, 50} {
		blob := bytes.Repeat([]byte{byte('0' + i)}, size)
		_, err := s.Put(ctx, "bob/a", "bob", digest.FromBytes(blob), bytes.NewReader(blob))
		if want := i != 1; (err == nil) != want || (err != nil && !errors.As(err, &qe)) {
			t.Fatalf("bob's blob %d of %d bytes with a quota of 150: %v", i+1, size, err)
		}
	}
	if used, quota, _ := s.Usage(ctx, "bob"); used != 150 || quota != 150 {
		t.Fatalf("bob's usage %d of %d", used, quota)
	}
	// The namespace is full: the next upload is refused before a byte arrives.
	if _, err := s.StartUpload(ctx, "bob/b", "bob"); !errors.As(err, &qe) {
		t.Fatalf("an upload into a full namespace: %v", err)
	}
}
