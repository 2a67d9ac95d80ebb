package remote

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/image"
)

func (r *Repository) blobPath(dgst digest.Digest) string {
	return "/v2/" + r.Name + "/blobs/" + dgst.String()
}

// BlobExists reports, with a HEAD request, whether the repository has the
// blob dgst.
func (r *Repository) BlobExists(ctx context.Context, dgst digest.Digest) (bool, error) {
	resp, err := r.do(ctx, &request{method: http.MethodHead, path: r.blobPath(dgst)})
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}
	_, err = expect(resp, "check blob "+dgst.String()+" in "+r.String(), http.StatusOK)
	return false, err
}

// FetchBlob opens the blob desc for reading from offset (to resume an
// interrupted download), asking for the rest with a Range request. A
// registry that ignores Range sends the whole blob; the bytes before offset
// are then skipped here, so the reader always starts at offset. The caller
// verifies the content: it is hostile until its digest matches.
func (r *Repository) FetchBlob(ctx context.Context, desc image.Descriptor, offset int64) (io.ReadCloser, error) {
	op := "fetch blob " + desc.Digest.String() + " from " + r.String()
	req := &request{method: http.MethodGet, path: r.blobPath(desc.Digest)}
	if offset > 0 {
		req.header = http.Header{"Range": {"bytes=" + strconv.FormatInt(offset, 10) + "-"}}
	}
	resp, err := r.do(ctx, req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusNotFound {
		resp.Body.Close()
		return nil, fmt.Errorf("%s: the registry does not have it: %w", op, errdefs.ErrNotFound)
	}
	if _, err := expect(resp, op, http.StatusOK, http.StatusPartialContent); err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusPartialContent {
		start, ok := contentRangeStart(resp.Header.Get("Content-Range"))
		if !ok || start != offset {
			resp.Body.Close()
			return nil, fmt.Errorf("%s: asked for bytes from %d, got Content-Range %q: %w",
				op, offset, resp.Header.Get("Content-Range"), errdefs.ErrInvalidArgument)
		}
		return resp.Body, nil
	}
	if offset > 0 {
		if _, err := io.CopyN(io.Discard, resp.Body, offset); err != nil {
			resp.Body.Close()
			return nil, fmt.Errorf("%s: %w", op, err)
		}
	}
	return resp.Body, nil
}

// contentRangeStart reads the first byte position of "bytes 100-199/200".
func contentRangeStart(h string) (int64, bool) {
	h = strings.TrimSpace(strings.TrimPrefix(h, "bytes"))
	first, _, ok := strings.Cut(h, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(first), 10, 64)
	return n, err == nil && n >= 0
}

// upload is an upload session: where to send the next bytes.
type upload struct {
	location *url.URL
	minChunk int64 // OCI-Chunk-Min-Length, 0 when the registry sets none
}

// location resolves a Location header against the request that got it.
func location(resp *http.Response, op string) (*url.URL, error) {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return nil, fmt.Errorf("%s: the registry answered %d without a Location", op, resp.StatusCode)
	}
	u, err := resp.Request.URL.Parse(loc)
	if err != nil {
		return nil, fmt.Errorf("%s: bad Location %q: %v", op, loc, err)
	}
	return u, nil
}

// Mount asks the registry to link the blob dgst from the repository from
// into this one, without sending it. It reports whether that happened; when
// it did not, the registry may have opened an upload session, which is
// returned for PushBlob to use (or nil).
func (r *Repository) Mount(ctx context.Context, dgst digest.Digest, from string) (bool, *Upload, error) {
	up, mounted, err := r.startUpload(ctx, url.Values{"mount": {dgst.String()}, "from": {from}})
	if err != nil || mounted {
		return mounted, nil, err
	}
	return false, &Upload{u: up}, nil
}

// Upload is an upload session a failed Mount left open.
type Upload struct{ u *upload }

// startUpload POSTs to the uploads endpoint. With mount parameters a 201
// means the blob was mounted; otherwise a 202 opens a session.
func (r *Repository) startUpload(ctx context.Context, query url.Values) (*upload, bool, error) {
	op := "start an upload to " + r.String()
	resp, err := r.do(ctx, &request{method: http.MethodPost, path: "/v2/" + r.Name + "/blobs/uploads/", query: query,
		body: func() io.Reader { return strings.NewReader("") }})
	if err != nil {
		return nil, false, err
	}
	if _, err := expect(resp, op, http.StatusAccepted, http.StatusCreated); err != nil {
		return nil, false, err
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusCreated {
		return nil, query.Get("mount") != "", nil
	}
	loc, err := location(resp, op)
	if err != nil {
		return nil, false, err
	}
	up := &upload{location: loc}
	if v := resp.Header.Get("OCI-Chunk-Min-Length"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
			up.minChunk = n
		}
	}
	return up, false, nil
}
