package build

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/testutil"
)

// pattern is a body of n bytes made as it is sent, never held whole.
type pattern struct{ n, off int64 }

func (p *pattern) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	if rest := p.n - p.off; int64(len(b)) > rest {
		b = b[:rest]
	}
	for i := range b {
		b[i] = byte((p.off + int64(i)) % 251)
	}
	p.off += int64(len(b))
	return len(b), nil
}

// serveBodies serves /N (N bytes of pattern) on loopback; with
// noLength, without a Content-Length.
func serveBodies(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", testutil.FreeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.ParseInt(strings.Trim(r.URL.Path, "/"), 10, 64)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		if r.URL.Query().Get("length") != "no" {
			w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		}
		io.Copy(w, &pattern{n: n})
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return "http://" + l.Addr().String()
}

func patternDigest(n int64) string {
	h := sha256.New()
	io.Copy(h, &pattern{n: n})
	return fmt.Sprintf("sha256:%x", h.Sum(nil))
}

// ADD <URL> streams to disk: 64 MiB downloads with a few MiB allocated,
// and the file holds every byte.
func TestFetchStreams(t *testing.T) {
	base := serveBodies(t)
	const n = 64 << 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	d, err := fetch(context.Background(), base+"/"+strconv.Itoa(n)+"?length=no", t.TempDir(), DefaultMaxDownload, patternDigest(n))
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	defer d.file.Close()
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
		t.Errorf("a 64 MiB download allocated %d MiB: it is held in memory", alloc>>20)
	}
	if d.size != n || "sha256:"+d.sum.Encoded() != patternDigest(n) {
		t.Errorf("downloaded %d bytes, %s", d.size, d.sum)
	}
	if fi, err := d.file.Stat(); err != nil || fi.Size() != n {
		t.Errorf("the file holds %v bytes (%v)", fi.Size(), err)
	}
}

func TestFetchRefuses(t *testing.T) {
	base := serveBodies(t)
	ctx := context.Background()
	for _, tc := range []struct {
		url, checksum string
		limit         int64
		want          string
		class         func(error) bool
	}{
		{url: "/2097152", limit: 1 << 20, want: "larger than the 1.0 MiB", class: errdefs.IsInvalidArgument},
		{url: "/2097152?length=no", limit: 1 << 20, want: "larger than the 1.0 MiB", class: errdefs.IsInvalidArgument},
		{url: "/1000", checksum: patternDigest(999), want: "does not match --checksum", class: errdefs.IsInvalidArgument},
		{url: "/1000", checksum: "sha256:abc", want: "want sha256:HEX", class: errdefs.IsInvalidArgument},
		{url: "/1000", checksum: "md5:0123456789abcdef0123456789abcdef", want: "want sha256:HEX", class: errdefs.IsInvalidArgument},
		{url: "/missing", want: "404 Not Found", class: func(err error) bool { return errors.Is(err, errdefs.ErrUnavailable) }},
	} {
		limit := tc.limit
		if limit == 0 {
			limit = DefaultMaxDownload
		}
		d, err := fetch(ctx, base+tc.url, t.TempDir(), limit, tc.checksum)
		if err == nil {
			d.file.Close()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) || !tc.class(err) {
			t.Errorf("%s (checksum %q): %v; want an error with %q", tc.url, tc.checksum, err, tc.want)
		}
	}
	if d, err := fetch(ctx, base+"/1000", t.TempDir(), DefaultMaxDownload, patternDigest(1000)); err != nil {
		t.Errorf("the right checksum: %v", err)
	} else {
		d.file.Close()
	}
}

// A download that fills the disk (a 1 MiB tmpfs) says so.
func TestFetchDiskFull(t *testing.T) {
	testutil.RequireRoot(t)
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size=1m"); err != nil {
		t.Skipf("cannot mount a small tmpfs here: %v", err)
	}
	defer unix.Unmount(dir, unix.MNT_DETACH)
	_, err := fetch(context.Background(), serveBodies(t)+"/4194304", dir, DefaultMaxDownload, "")
	if err == nil || !strings.Contains(err.Error(), "the disk is full") {
		t.Errorf("ADD onto a full disk: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("the failed download left %d files", len(entries))
	}
}
