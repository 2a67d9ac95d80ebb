package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/image"
)

// DefaultChunkSize is the size of the pieces a big blob is uploaded in; a
// blob no bigger than that goes in one request.
const DefaultChunkSize = 32 << 20

// PushOptions tune PushBlob.
type PushOptions struct {
	// ChunkSize is the chunk size, DefaultChunkSize when 0; the registry's
	// OCI-Chunk-Min-Length raises it.
	ChunkSize int64
	// Session is an upload a failed Mount left open; nil starts a new one.
	Session *Upload
	// Progress, when set, is called with how many bytes have been sent.
	Progress func(sent int64)
}

// PushBlob uploads the blob desc, read from src. A blob larger than the chunk
// size goes in chunks (PATCH with Content-Range, in order), and a chunk
// that fails for a network error is resumed from what the registry says it
// holds; a smaller blob goes in one PUT. The registry checks the digest.
func (r *Repository) PushBlob(ctx context.Context, desc image.Descriptor, src io.ReaderAt, opts PushOptions) error {
	var up *upload
	if opts.Session != nil {
		up = opts.Session.u
	} else {
		var err error
		if up, _, err = r.startUpload(ctx, nil); err != nil {
			return err
		}
	}
	chunk := max(opts.ChunkSize, up.minChunk)
	if chunk <= 0 {
		chunk = max(DefaultChunkSize, up.minChunk)
	}
	op := "push blob " + desc.Digest.String() + " to " + r.String()
	if desc.Size <= chunk {
		return r.finishUpload(ctx, up.location, desc, op, &section{src: src, off: 0, n: desc.Size, progress: opts.Progress})
	}
	loc, resumes := up.location, 0
	for off := int64(0); off < desc.Size; {
		n := min(chunk, desc.Size-off)
		next, err := r.patch(ctx, loc, &section{src: src, off: off, n: n, progress: opts.Progress}, op)
		var re *Error
		if err != nil && ctx.Err() == nil && !errors.As(err, &re) && resumes < maxTransientRetries {
			resumes++
			if loc, off, err = r.uploadStatus(ctx, loc, op); err == nil {
				continue
			}
		}
		if err != nil {
			return err
		}
		loc, off = next, off+n
	}
	return r.finishUpload(ctx, loc, desc, op, nil)
}

// uploadStatus asks where an upload stands after a chunk was lost on the way:
// the next offset to send and where to send it.
func (r *Repository) uploadStatus(ctx context.Context, loc *url.URL, op string) (*url.URL, int64, error) {
	resp, err := r.do(ctx, &request{method: http.MethodGet, url: loc})
	if err != nil {
		return nil, 0, err
	}
	if _, err := expect(resp, op, http.StatusNoContent, http.StatusOK); err != nil {
		return nil, 0, err
	}
	resp.Body.Close()
	next, err := location(resp, op)
	if err != nil {
		return nil, 0, err
	}
	end, ok := rangeEnd(resp.Header.Get("Range"))
	if !ok {
		return next, 0, nil
	}
	return next, end + 1, nil
}

// section is a replayable piece of a blob, counting what was read for progress.
type section struct {
	src      io.ReaderAt
	off, n   int64
	progress func(int64)
}

func (s *section) reader() io.Reader {
	sr := io.NewSectionReader(s.src, s.off, s.n)
	if s.progress == nil {
		return sr
	}
	return &countingReader{r: sr, base: s.off, report: s.progress}
}

type countingReader struct {
	r      io.Reader
	base   int64
	n      atomic.Int64
	report func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.report(c.base + c.n.Add(int64(n)))
	}
	return n, err
}

// patch sends one chunk and returns where the next one goes.
func (r *Repository) patch(ctx context.Context, loc *url.URL, s *section, op string) (*url.URL, error) {
	resp, err := r.do(ctx, &request{method: http.MethodPatch, url: loc, body: s.reader, size: s.n,
		header: http.Header{
			"Content-Type":  {"application/octet-stream"},
			"Content-Range": {fmt.Sprintf("%d-%d", s.off, s.off+s.n-1)},
		}})
	if err != nil {
		return nil, err
	}
	if _, err := expect(resp, op, http.StatusAccepted, http.StatusNoContent); err != nil {
		return nil, err
	}
	resp.Body.Close()
	if end, ok := rangeEnd(resp.Header.Get("Range")); ok && end != s.off+s.n-1 {
		return nil, fmt.Errorf("%s: sent bytes up to %d, the registry holds up to %d: %w", op, s.off+s.n-1, end, errdefs.ErrConflict)
	}
	return location(resp, op)
}

// rangeEnd reads the last byte position of an upload's "0-1023" Range header.
func rangeEnd(h string) (int64, bool) {
	_, last, ok := strings.Cut(strings.TrimPrefix(h, "bytes="), "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(last, 10, 64)
	return n, err == nil
}

// finishUpload PUTs ?digest=, with the last bytes when s is set.
func (r *Repository) finishUpload(ctx context.Context, loc *url.URL, desc image.Descriptor, op string, s *section) error {
	req := &request{method: http.MethodPut, url: loc, query: url.Values{"digest": {desc.Digest.String()}},
		body: func() io.Reader { return strings.NewReader("") }}
	if s != nil {
		req.body, req.size = s.reader, s.n
		req.header = http.Header{"Content-Type": {"application/octet-stream"}}
	}
	resp, err := r.do(ctx, req)
	if err != nil {
		return err
	}
	if _, err := expect(resp, op, http.StatusCreated, http.StatusNoContent, http.StatusAccepted); err != nil {
		return err
	}
	resp.Body.Close()
	if got := resp.Header.Get("Docker-Content-Digest"); got != "" && got != desc.Digest.String() {
		return fmt.Errorf("%s: the registry stored it as %s: %w", op, got, errdefs.ErrConflict)
	}
	return nil
}
