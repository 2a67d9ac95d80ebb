// Package errcode holds the OCI distribution error codes and their JSON
// envelope. It is the only place in the hub where an error becomes an HTTP
// status: handlers return errors (a *Error with a code, or an errdefs class),
// and Write turns them into a response.
//
// The envelope is the spec's:
//
//	{"errors": [{"code": "BLOB_UNKNOWN", "message": "...", "detail": ...}]}
package errcode

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/deadline"
)

// Code is one error code of the distribution spec, with the HTTP status it
// is answered with and its default message.
type Code struct {
	Name    string
	Status  int
	Message string
}

// The spec's codes, plus the few Docker's registry added that clients know.
var (
	BlobUnknown       = Code{"BLOB_UNKNOWN", http.StatusNotFound, "blob unknown to registry"}
	BlobUploadInvalid = Code{"BLOB_UPLOAD_INVALID", http.StatusBadRequest, "blob upload invalid"}
	BlobUploadUnknown = Code{"BLOB_UPLOAD_UNKNOWN", http.StatusNotFound, "blob upload unknown to registry"}
	// BlobTooLarge is a blob past the hub's size limit: a 413, as the spec
	// has for a manifest too big.
	BlobTooLarge = Code{"SIZE_INVALID", http.StatusRequestEntityTooLarge, "blob larger than this registry takes"}
	// UploadBusy is a request on an upload another request is writing.
	UploadBusy = Code{"BLOB_UPLOAD_INVALID", http.StatusConflict, "another request is writing to this upload"}
	// QuotaExceeded is a push past the namespace's storage quota.
	QuotaExceeded       = Code{"DENIED", http.StatusForbidden, "storage quota exceeded"}
	ChunkOutOfOrder     = Code{"BLOB_UPLOAD_INVALID", http.StatusRequestedRangeNotSatisfiable, "chunk out of order"}
	DigestInvalid       = Code{"DIGEST_INVALID", http.StatusBadRequest, "provided digest did not match uploaded content"}
	ManifestBlobUnknown = Code{"MANIFEST_BLOB_UNKNOWN", http.StatusBadRequest, "manifest references a manifest or blob unknown to registry"}
	ManifestInvalid     = Code{"MANIFEST_INVALID", http.StatusBadRequest, "manifest invalid"}
	ManifestTooBig      = Code{"MANIFEST_INVALID", http.StatusRequestEntityTooLarge, "manifest too big"}
	ManifestUnknown     = Code{"MANIFEST_UNKNOWN", http.StatusNotFound, "manifest unknown to registry"}
	NameInvalid         = Code{"NAME_INVALID", http.StatusBadRequest, "invalid repository name"}
	NameUnknown         = Code{"NAME_UNKNOWN", http.StatusNotFound, "repository name not known to registry"}
	SizeInvalid         = Code{"SIZE_INVALID", http.StatusBadRequest, "provided length did not match content length"}
	TagInvalid          = Code{"TAG_INVALID", http.StatusBadRequest, "manifest tag did not match URI"}
	Unauthorized        = Code{"UNAUTHORIZED", http.StatusUnauthorized, "authentication required"}
	Denied              = Code{"DENIED", http.StatusForbidden, "requested access to the resource is denied"}
	// InsufficientScope is a token (or credentials) that does not allow the
	// request: a 401, so that the client asks for a token with more scope.
	InsufficientScope = Code{"DENIED", http.StatusUnauthorized, "requested access to the resource is denied"}
	Conflict          = Code{"DENIED", http.StatusConflict, "the request conflicts with what is stored"}
	// TagImmutable is a push that would move, or a delete that would
	// remove, a tag an immutable rule covers: DENIED with Harbor's 412,
	// which clients show as "denied: <message>" and do not retry.
	TagImmutable      = Code{"DENIED", http.StatusPreconditionFailed, "the tag is immutable"}
	Unsupported       = Code{"UNSUPPORTED", http.StatusMethodNotAllowed, "the operation is unsupported"}
	TooManyRequests   = Code{"TOOMANYREQUESTS", http.StatusTooManyRequests, "too many requests"}
	PaginationInvalid = Code{"PAGINATION_NUMBER_INVALID", http.StatusBadRequest, "invalid number of results requested"}
	RangeInvalid      = Code{"RANGE_INVALID", http.StatusRequestedRangeNotSatisfiable, "requested range not satisfiable"}
	Unavailable       = Code{"UNAVAILABLE", http.StatusServiceUnavailable, "service unavailable, try again"}
	// TooSlow is a request body that paused too long or came too slowly.
	TooSlow = Code{"BLOB_UPLOAD_INVALID", http.StatusRequestTimeout, "the request body came too slowly"}
	Unknown = Code{"UNKNOWN", http.StatusInternalServerError, "unknown error"}
)

// Error is a coded error for the client; Header carries response headers
// the error needs (a WWW-Authenticate challenge, a Range for a 416).
type Error struct {
	Code    Code
	Message string // what went wrong, for a person; the code's default when empty
	Detail  any    // optional structured detail
	Header  http.Header
	Err     error // the cause, logged but not sent
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = e.Code.Message
	}
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code.Name, msg, e.Err)
	}
	return e.Code.Name + ": " + msg
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an error with code c and a formatted message.
func New(c Code, format string, args ...any) *Error {
	return &Error{Code: c, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an error with code c that keeps err as its cause; the
// client sees err's text as the message.
func Wrap(c Code, err error) *Error {
	return &Error{Code: c, Message: err.Error(), Err: err}
}

// WithHeader adds a response header to e and returns it.
func (e *Error) WithHeader(key, value string) *Error {
	if e.Header == nil {
		e.Header = http.Header{}
	}
	e.Header.Add(key, value)
	return e
}

// From classifies any error: a *Error keeps its code, an errdefs class gets
// the matching generic code, anything else is UNKNOWN (500).
func From(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	switch {
	case deadline.IsTimeout(err):
		return Wrap(TooSlow, err)
	case errors.Is(err, errdefs.ErrInvalidArgument):
		return Wrap(Code{"INVALID", http.StatusBadRequest, "invalid request"}, err)
	case errors.Is(err, errdefs.ErrNotFound):
		return Wrap(Code{"NOT_FOUND", http.StatusNotFound, "not found"}, err)
	case errors.Is(err, errdefs.ErrUnauthorized):
		return Wrap(Unauthorized, err)
	case errors.Is(err, errdefs.ErrForbidden):
		return Wrap(Denied, err)
	case errors.Is(err, errdefs.ErrConflict), errors.Is(err, errdefs.ErrAlreadyExists):
		return Wrap(Conflict, err)
	case errors.Is(err, errdefs.ErrUnavailable):
		return Wrap(Unavailable, err)
	}
	return &Error{Code: Unknown, Err: err}
}

type wireError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
}

// Write answers the request with err in the spec's envelope. Unknown
// errors are logged with their cause and sent without it.
func Write(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	e := From(err)
	msg := e.Message
	if e.Code.Status >= 500 {
		if log != nil {
			log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
		msg = e.Code.Message
	}
	if msg == "" {
		msg = e.Code.Message
	}
	for k, vs := range e.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	body, _ := json.Marshal(struct {
		Errors []wireError `json:"errors"`
	}{[]wireError{{Code: e.Code.Name, Message: msg, Detail: e.Detail}}})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.Header().Del("Docker-Content-Digest")
	w.WriteHeader(e.Code.Status)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}
