// Package distapi is the OCI distribution API (/v2/): a path matcher that
// refuses malformed names and references, and one handler per endpoint.
// Handlers return errors; the hub's router writes them with errcode, and
// decides access before a handler runs.
package distapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/audit"
	"github.com/strata-dev/strata/internal/hub/errcode"
	"github.com/strata-dev/strata/internal/hub/meta"
	"github.com/strata-dev/strata/internal/hub/storage"
)

// API serves the distribution endpoints over a metadata store and blobs.
type API struct {
	Meta   meta.Store
	Blobs  *storage.Store
	Limits Limits
	Log    *slog.Logger
	Pulls  *PullCounter    // nil: pulls are not counted
	Audit  *audit.Recorder // nil: nothing recorded
}

// Limits are what an operator bounds; zero values bound nothing.
type Limits struct {
	MaxBlobSize     int64 // bytes; larger blobs are refused (413) before or while they arrive
	MaxManifestSize int64 // bytes; 0: image.MaxManifestSize, the most strata parses
}

// HandlerFunc is an endpoint: it answers, or returns an error for errcode.
type HandlerFunc func(w http.ResponseWriter, r *http.Request, p Path) error

// Base answers GET /v2/: the API is here.
func (a *API) Base(w http.ResponseWriter, r *http.Request, _ Path) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", "2")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write([]byte("{}"))
	}
	return nil
}

// notFoundAs gives a not-found error the code c, keeping other errors.
func notFoundAs(err error, c errcode.Code) error {
	if errdefs.IsNotFound(err) {
		return errcode.Wrap(c, err)
	}
	return err
}

// conflictAs gives a conflict the code c, keeping other errors.
func conflictAs(err error, c errcode.Code) error {
	if errdefs.IsConflict(err) {
		return errcode.Wrap(c, err)
	}
	return err
}

// blobURL is where a blob of name can be fetched.
func blobURL(name string, d digest.Digest) string { return "/v2/" + name + "/blobs/" + d.String() }

func uploadURL(name, id string) string { return "/v2/" + name + "/blobs/uploads/" + id }

// uploadHeaders are the headers every upload response carries.
func uploadHeaders(w http.ResponseWriter, u storage.Upload) {
	h := w.Header()
	h.Set("Location", uploadURL(u.Repo, u.ID))
	h.Set("Docker-Upload-UUID", u.ID)
	end := u.Offset - 1
	if end < 0 {
		end = 0 // as Docker's registry says it, for an empty upload
	}
	h.Set("Range", fmt.Sprintf("0-%d", end))
	h.Set("Content-Length", "0")
}

// uploadError maps the storage errors of an upload to codes.
func uploadError(err error, _ http.ResponseWriter, u storage.Upload) error {
	var re *storage.RangeError
	var de *storage.DigestError
	var tl *storage.TooLargeError
	var qe *meta.QuotaError
	var le *meta.LimitError
	switch {
	case errors.As(err, &tl):
		return errcode.Wrap(errcode.BlobTooLarge, err)
	case errors.As(err, &qe):
		return errcode.Wrap(errcode.QuotaExceeded, err)
	case errors.As(err, &le):
		return errcode.Wrap(errcode.TooManyRequests, err).WithHeader("Retry-After", "60")
	case errors.Is(err, storage.ErrUploadBusy):
		return errcode.Wrap(errcode.UploadBusy, err)
	case errors.Is(err, storage.ErrLeaseLost):
		return errcode.Wrap(errcode.UploadBusy, err)
	case errors.As(err, &re):
		u.Offset = re.Offset
		e := errcode.Wrap(errcode.ChunkOutOfOrder, err)
		e.WithHeader("Location", uploadURL(u.Repo, u.ID)).WithHeader("Docker-Upload-UUID", u.ID)
		e.WithHeader("Range", fmt.Sprintf("0-%d", max(re.Offset-1, 0)))
		return e
	case errors.As(err, &de):
		return errcode.Wrap(errcode.DigestInvalid, err)
	case errors.Is(err, storage.ErrUploadUnknown):
		return errcode.Wrap(errcode.BlobUploadUnknown, err)
	case errdefs.IsInvalidArgument(err):
		return errcode.Wrap(errcode.DigestInvalid, err)
	}
	return err
}

// pageParams reads ?n= and ?last= of a listing; n < 0 means no limit given.
func pageParams(r *http.Request, def, maxN int) (meta.Page, error) {
	q := r.URL.Query()
	p := meta.Page{Last: q.Get("last"), N: def}
	if s := q.Get("n"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return p, errcode.New(errcode.PaginationInvalid, "n=%q: want a number of results, 0 or more", s)
		}
		p.N = n
	}
	if maxN > 0 && (p.N < 0 || p.N > maxN) {
		p.N = maxN
	}
	return p, nil
}

// nextLink sets the Link header to the next page of a listing at path.
func nextLink(w http.ResponseWriter, path string, items []string, n int) {
	if len(items) == 0 {
		return
	}
	q := "last=" + items[len(items)-1] + "&n=" + strconv.Itoa(n)
	w.Header().Set("Link", fmt.Sprintf("<%s?%s>; rel=\"next\"", path, q))
}

// mediaTypeOf strips parameters from a Content-Type.
func mediaTypeOf(ct string) string {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.TrimSpace(mt)
}
