package build

import (
	"context"
	"crypto/sha256"
	_ "crypto/sha512" // --checksum=sha384:... and sha512:...
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"strings"
	"syscall"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
)

// DefaultMaxDownload bounds what one ADD <URL> may download, unless
// Options.MaxDownload says otherwise.
const DefaultMaxDownload = 8 << 30

// download is what ADD <URL> fetched: streamed into a file that is already
// unlinked (a crash leaves nothing behind), never held in memory.
type download struct {
	file  *os.File
	size  int64
	name  string // the URL's last part, the file's name at a directory destination
	mtime time.Time
	sum   digest.Digest // sha256 of the content
}

// fetch downloads raw into a temporary file in dir, at most limit bytes,
// and checks it against checksum (a digest, "" for none).
func fetch(ctx context.Context, raw, dir string, limit int64, checksum string) (*download, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("ADD %s: %v: %w", raw, err, errdefs.ErrInvalidArgument)
	}
	var want digest.Digest
	if checksum != "" {
		if want, err = digest.Parse(checksum); err != nil || !want.Algorithm().Available() {
			return nil, fmt.Errorf("ADD --checksum=%s: %v: want sha256:HEX (or sha384, sha512): %w", checksum, err, errdefs.ErrInvalidArgument)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, time.Hour)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return nil, fmt.Errorf("ADD %s: %v: %w", raw, err, errdefs.ErrInvalidArgument)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ADD %s: cannot download it (%v): check the URL and that this machine reaches the network: %w",
			raw, err, errdefs.ErrUnavailable)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("ADD %s: the server answered %s: %w", raw, resp.Status, errdefs.ErrUnavailable)
	}
	if resp.ContentLength > limit {
		return nil, tooLarge(raw, limit)
	}
	f, err := os.CreateTemp(dir, "add-*")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name())
	d := &download{file: f, name: path.Base(u.Path), mtime: time.Now()}
	if d.name == "/" || d.name == "." {
		d.name = ""
	}
	if lm, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		d.mtime = lm
	}
	if err := d.fill(resp.Body, raw, limit, want); err != nil {
		f.Close()
		return nil, err
	}
	return d, nil
}

// fill streams body into the file, hashing as it goes.
func (d *download) fill(body io.Reader, raw string, limit int64, want digest.Digest) error {
	h := sha256.New()
	var verify digest.Verifier
	w := io.Writer(h)
	if want != "" {
		verify = want.Verifier()
		w = io.MultiWriter(h, verify)
	}
	n, err := io.Copy(io.MultiWriter(d.file, w), io.LimitReader(body, limit+1))
	if errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("ADD %s: the disk is full (after %s, in %s): free some space and build again: %w",
			raw, mib(n), path.Dir(d.file.Name()), errdefs.ErrUnavailable)
	}
	if err != nil {
		return fmt.Errorf("ADD %s: download: %v: %w", raw, err, errdefs.ErrUnavailable)
	}
	if n > limit {
		return tooLarge(raw, limit)
	}
	d.size, d.sum = n, digest.NewDigestFromBytes(digest.SHA256, h.Sum(nil))
	if verify != nil && !verify.Verified() {
		return fmt.Errorf("ADD %s: the download does not match --checksum=%s (it is %s): %w", raw, want, d.sum, errdefs.ErrInvalidArgument)
	}
	return nil
}

func tooLarge(raw string, limit int64) error {
	return fmt.Errorf("ADD %s: the download is larger than the %s that one ADD may fetch: %w",
		raw, mib(limit), errdefs.ErrInvalidArgument)
}

// hash is the download's history hash, "file:HEX", as Docker writes it.
func (d *download) hash() string { return "file:" + d.sum.Encoded() }

func isURL(p string) bool {
	return strings.HasPrefix(p, "http://") || strings.HasPrefix(p, "https://")
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
