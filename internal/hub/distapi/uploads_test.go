package distapi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http/httptest"
	"testing"

	"github.com/strata-dev/strata/internal/hub/errcode"
)

// contentRangeCases are TestContentRange's table and FuzzContentRange's
// seeds: a Content-Range with the request's Content-Length (-1: not
// given), the chunk's start and length, or the error's code.
var contentRangeCases = []struct {
	header        string
	contentLength int64
	start, n      int64
	code          string
}{
	{"", -1, -1, 64, ""}, // no range: the whole body (readChunk sends 64 bytes)
	{"0-9", 10, 0, 10, ""},
	{"0-9", -1, 0, 10, ""},
	{"bytes 10-19/30", 10, 10, 10, ""},
	{"bytes=10-19/*", 10, 10, 10, ""},
	{"5-5", 1, 5, 1, ""},
	{"0-4", 10, 0, 0, "SIZE_INVALID"},
	{"10-19", 5, 0, 0, "SIZE_INVALID"},
	{"zero-ten", 10, 0, 0, "BLOB_UPLOAD_INVALID"},
	{"9-0", 10, 0, 0, "BLOB_UPLOAD_INVALID"},
	{"-1-9", 10, 0, 0, "BLOB_UPLOAD_INVALID"},
	{"0-9/", 10, 0, 0, "BLOB_UPLOAD_INVALID"},
	{"0-99999999999999999999", -1, 0, 0, "BLOB_UPLOAD_INVALID"},
	{" 0-9", 10, 0, 0, "BLOB_UPLOAD_INVALID"},
	// Found writing FuzzContentRange: the length of 0-(2^63-1) overflows to negative.
	{"0-9223372036854775807", -1, 0, 0, "BLOB_UPLOAD_INVALID"},
}

func TestContentRange(t *testing.T) {
	for _, tc := range contentRangeCases {
		start, n, err := readChunk(tc.header, tc.contentLength, 64)
		if tc.code == "" {
			if err != nil || start != tc.start || n != tc.n {
				t.Errorf("Content-Range %q, Content-Length %d: %d, %d bytes, %v; want %d, %d bytes", tc.header, tc.contentLength, start, n, err, tc.start, tc.n)
			}
			continue
		}
		var e *errcode.Error
		if !errors.As(err, &e) || e.Code.Name != tc.code {
			t.Errorf("Content-Range %q, Content-Length %d: %d, %v; want %s", tc.header, tc.contentLength, start, err, tc.code)
		}
	}
}

// readChunk runs chunk on a request with the given Content-Range and
// Content-Length and a body of size bytes: where the chunk starts and how
// many bytes of the body it reads.
func readChunk(header string, contentLength int64, size int) (int64, int64, error) {
	r := httptest.NewRequest("PATCH", "/v2/a/blobs/uploads/x", bytes.NewReader(make([]byte, size)))
	r.ContentLength = contentLength
	if header != "" {
		r.Header["Content-Range"] = []string{header}
	}
	start, body, err := chunk(r)
	if err != nil {
		return start, 0, err
	}
	n, err := io.Copy(io.Discard, body)
	return start, n, err
}

// FuzzContentRange: a Content-Range accepted is a range of bytes (0 <=
// start <= end, its length positive and agreeing with Content-Length), the
// chunk read is no longer than it, the range written back in each form
// clients send reads the same, and a chunk is complete exactly when it
// ends at end+1. What is refused is a coded 4xx.
func FuzzContentRange(f *testing.F) {
	for _, tc := range contentRangeCases {
		f.Add(tc.header, tc.contentLength)
	}
	f.Fuzz(func(t *testing.T, header string, contentLength int64) {
		start, end, err := parseContentRange(header)
		if err != nil {
			var e *errcode.Error
			if !errors.As(err, &e) || e.Code.Status < 400 || e.Code.Status > 499 {
				t.Fatalf("parseContentRange(%q): %v is not a coded 4xx", header, err)
			}
			return
		}
		n := end - start + 1
		if start < 0 || end < start || n <= 0 || n > math.MaxInt64-start {
			t.Fatalf("parseContentRange(%q) = %d-%d: not a range of bytes (length %d)", header, start, end, n)
		}
		for _, again := range []string{fmt.Sprintf("%d-%d", start, end), fmt.Sprintf("bytes %d-%d/*", start, end),
			fmt.Sprintf("bytes=%d-%d/%d", start, end, end+1)} {
			if s, e, err := parseContentRange(again); err != nil || s != start || e != end {
				t.Fatalf("parseContentRange(%q) = %d-%d, but %q reads %d-%d, %v", header, start, end, again, s, e, err)
			}
		}
		r := httptest.NewRequest("PATCH", "/v2/a/blobs/uploads/x", nil)
		r.Header["Content-Range"] = []string{header}
		if checkChunkEnd(r, start, end+1) != nil || checkChunkEnd(r, start, end) == nil {
			t.Fatalf("Content-Range %q: a chunk ending at %d is not the only complete one", header, end+1)
		}
		const size = 64
		got, read, err := readChunk(header, contentLength, size)
		switch {
		case contentLength >= 0 && contentLength != n:
			var e *errcode.Error
			if !errors.As(err, &e) || e.Code.Name != "SIZE_INVALID" {
				t.Fatalf("Content-Range %q (%d bytes), Content-Length %d: %v; want SIZE_INVALID", header, n, contentLength, err)
			}
		case err != nil || got != start || read > n || read != min(n, size):
			t.Fatalf("Content-Range %q, Content-Length %d: chunk at %d, %d bytes read, %v", header, contentLength, got, read, err)
		}
	})
}
