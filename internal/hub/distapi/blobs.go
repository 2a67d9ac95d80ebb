package distapi

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/strata-dev/strata/internal/hub/deadline"
	"github.com/strata-dev/strata/internal/hub/errcode"
)

// GetBlob serves a blob, or the single byte range asked for (206). The
// content is copied straight from the driver's file, which net/http sends
// with sendfile; with redirects on, a GET is a 307 to the object store.
func (a *API) GetBlob(w http.ResponseWriter, r *http.Request, p Path) error {
	if r.Method == http.MethodHead {
		l, err := a.Blobs.Stat(r.Context(), p.Name, p.Digest)
		if err != nil {
			return notFoundAs(err, errcode.BlobUnknown)
		}
		blobHeaders(w, p, l.Size)
		w.WriteHeader(http.StatusOK)
		return nil
	}
	if url, err := a.Blobs.RedirectURL(r.Context(), p.Name, p.Digest); err != nil || url != "" {
		if err != nil {
			return notFoundAs(err, errcode.BlobUnknown)
		}
		w.Header().Set("Docker-Content-Digest", p.Digest.String())
		http.Redirect(w, r, url, http.StatusTemporaryRedirect)
		return nil
	}
	rc, size, err := a.Blobs.Open(r.Context(), p.Name, p.Digest)
	if err != nil {
		return notFoundAs(err, errcode.BlobUnknown)
	}
	defer rc.Close()
	start, length, partial, err := parseRange(r.Header.Get("Range"), size)
	if err != nil {
		return err
	}
	blobHeaders(w, p, size)
	status := http.StatusOK
	if partial {
		if _, err := rc.Seek(start, io.SeekStart); err != nil {
			return err
		}
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, start+length-1, size))
		w.Header().Set("Content-Length", strconv.FormatInt(length, 10))
		status = http.StatusPartialContent
	}
	w.WriteHeader(status)
	deadline.Extend(w, r, length)
	io.CopyN(w, rc, length) // a client going away mid-blob is not the hub's error
	return nil
}

func blobHeaders(w http.ResponseWriter, p Path, size int64) {
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	h.Set("Docker-Content-Digest", p.Digest.String())
	h.Set("Accept-Ranges", "bytes")
	h.Set("ETag", `"`+p.Digest.String()+`"`)
	h.Set("Cache-Control", "max-age=31536000")
}

// parseRange reads a Range header for a blob of size bytes: one range of
// the forms a-b, a- and -n (digits only, as RFC 9110 writes them). A range
// the blob cannot satisfy is a 416; several ranges, or another unit, are
// ignored (the whole blob, 200), as RFC 9110 allows.
func parseRange(h string, size int64) (start, length int64, partial bool, err error) {
	spec, ok := strings.CutPrefix(strings.Trim(h, " \t"), "bytes=")
	if h == "" || !ok || strings.Contains(spec, ",") {
		return 0, size, false, nil
	}
	unsatisfiable := func() error {
		return errcode.New(errcode.RangeInvalid, "range %q is outside the blob's %d bytes", h, size).
			WithHeader("Content-Range", fmt.Sprintf("bytes */%d", size))
	}
	m := byteRangeSpec().FindStringSubmatch(spec)
	if m == nil || m[1] == "" && m[2] == "" {
		return 0, 0, false, unsatisfiable()
	}
	first, last := m[1], m[2]
	if first == "" { // suffix: the last n bytes
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n <= 0 || size == 0 {
			return 0, 0, false, unsatisfiable()
		}
		n = min(n, size)
		return size - n, n, true, nil
	}
	start, err1 := strconv.ParseInt(first, 10, 64)
	end := size - 1
	var err2 error
	if last != "" {
		end, err2 = strconv.ParseInt(last, 10, 64)
	}
	if err1 != nil || err2 != nil || start < 0 || start >= size || end < start {
		return 0, 0, false, unsatisfiable()
	}
	end = min(end, size-1)
	return start, end - start + 1, true, nil
}

// byteRangeSpec is one range of bytes after "bytes=": first and last, either may be missing.
var byteRangeSpec = lazyRegexp(`^[ \t]*([0-9]*)-([0-9]*)[ \t]*$`)

// DeleteBlob unlinks a blob from the repository; the collector frees its
// content once nothing links it. A blob a manifest still uses is refused.
func (a *API) DeleteBlob(w http.ResponseWriter, r *http.Request, p Path) error {
	if err := a.Blobs.Unlink(r.Context(), p.Name, p.Digest); err != nil {
		return conflictAs(notFoundAs(err, errcode.BlobUnknown), errcode.Conflict)
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}
