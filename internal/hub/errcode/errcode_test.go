package errcode

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/strata-dev/strata/internal/errdefs"
)

func TestWrite(t *testing.T) {
	tests := []struct {
		err     error
		status  int
		code    string
		message string
	}{
		{New(BlobUnknown, "blob %s", "sha256:x"), 404, "BLOB_UNKNOWN", "blob sha256:x"},
		{fmt.Errorf("wrapped: %w", New(DigestInvalid, "bad")), 400, "DIGEST_INVALID", "bad"},
		{fmt.Errorf("bad input: %w", errdefs.ErrInvalidArgument), 400, "INVALID", "bad input: invalid argument"},
		{fmt.Errorf("gone: %w", errdefs.ErrNotFound), 404, "NOT_FOUND", "gone: not found"},
		{fmt.Errorf("busy: %w", errdefs.ErrConflict), 409, "DENIED", "busy: conflict"},
		{fmt.Errorf("who: %w", errdefs.ErrUnauthorized), 401, "UNAUTHORIZED", "who: unauthorized"},
		// An unexpected error is a 500 whose cause stays in the log.
		{errors.New("disk on fire at /secret/path"), 500, "UNKNOWN", "unknown error"},
		{New(RangeInvalid, "no").WithHeader("Content-Range", "bytes */10"), 416, "RANGE_INVALID", "no"},
	}
	for _, tc := range tests {
		w := httptest.NewRecorder()
		Write(w, httptest.NewRequest("GET", "/v2/", nil), nil, tc.err)
		var env struct {
			Errors []struct{ Code, Message string }
		}
		if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil || len(env.Errors) != 1 {
			t.Fatalf("%v: body %q", tc.err, w.Body)
		}
		if w.Code != tc.status || env.Errors[0].Code != tc.code || env.Errors[0].Message != tc.message {
			t.Errorf("%v: %d %+v, want %d %s %q", tc.err, w.Code, env.Errors[0], tc.status, tc.code, tc.message)
		}
		if w.Header().Get("Content-Type") != "application/json" {
			t.Errorf("%v: Content-Type %q", tc.err, w.Header().Get("Content-Type"))
		}
	}
	w := httptest.NewRecorder()
	Write(w, httptest.NewRequest(http.MethodHead, "/v2/", nil), nil, New(ManifestUnknown, "x"))
	if w.Code != 404 || w.Body.Len() != 0 {
		t.Fatalf("HEAD: %d with %d bytes of body", w.Code, w.Body.Len())
	}
}
