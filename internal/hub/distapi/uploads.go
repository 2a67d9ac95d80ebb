package distapi

import (
	"io"
	"math"
	"net/http"
	"strconv"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/hub/access"
	"github.com/strata-dev/strata/internal/hub/errcode"
	"github.com/strata-dev/strata/internal/hub/storage"
)

// StartUpload answers POST /v2/<name>/blobs/uploads/: a cross-repository
// mount (?mount=&from=, or without from: any public repository holding the
// blob), a whole blob in one request (?digest=), or a new upload session.
func (a *API) StartUpload(w http.ResponseWriter, r *http.Request, p Path) error {
	q := r.URL.Query()
	if m := q.Get("mount"); m != "" {
		d, err := parseDigest(m)
		if err != nil {
			return err
		}
		mounted, err := a.mount(r, p.Name, q.Get("from"), d)
		if err != nil {
			return uploadError(err, w, storage.Upload{Repo: p.Name})
		}
		if mounted {
			return blobCreated(w, p.Name, d)
		}
		// Not there to mount: the client uploads instead, as the spec says.
	}
	if ds := q.Get("digest"); ds != "" {
		d, err := parseDigest(ds)
		if err != nil {
			return err
		}
		if err := a.tooLarge(r.ContentLength); err != nil {
			return err
		}
		if _, err := a.Blobs.Put(r.Context(), p.Name, owner(r), d, r.Body); err != nil {
			return uploadError(err, w, storage.Upload{Repo: p.Name})
		}
		return blobCreated(w, p.Name, d)
	}
	u, err := a.Blobs.StartUpload(r.Context(), p.Name, owner(r))
	if err != nil {
		return uploadError(err, w, u)
	}
	uploadHeaders(w, u)
	w.Header().Set("OCI-Chunk-Min-Length", strconv.FormatInt(a.Blobs.Driver().MinChunk(), 10))
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// owner is whom an upload counts against: the user, or (on a hub without
// accounts) the client's address.
func owner(r *http.Request) string {
	if u := access.SubjectFrom(r.Context()).User; u != "" {
		return u
	}
	return "address " + access.ClientKey(access.Client(r))
}

// tooLarge refuses, before reading it, a body said to be larger than a blob may be.
func (a *API) tooLarge(n int64) error {
	if a.Limits.MaxBlobSize > 0 && n > a.Limits.MaxBlobSize {
		return uploadError(&storage.TooLargeError{Limit: a.Limits.MaxBlobSize}, nil, storage.Upload{})
	}
	return nil
}

func (a *API) mount(r *http.Request, name, from string, d digest.Digest) (bool, error) {
	if from == "" {
		holder, err := a.Meta.PublicHolder(r.Context(), d)
		if err != nil || holder == "" {
			return false, err
		}
		from = holder
	}
	if err := CheckName(from); err != nil {
		return false, err
	}
	return a.Blobs.Mount(r.Context(), name, from, d)
}

func blobCreated(w http.ResponseWriter, name string, d digest.Digest) error {
	w.Header().Set("Location", blobURL(name, d))
	w.Header().Set("Docker-Content-Digest", d.String())
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	return nil
}

// UploadStatus answers GET on an upload: how much has arrived (204).
func (a *API) UploadStatus(w http.ResponseWriter, r *http.Request, p Path) error {
	u, err := a.Blobs.Status(r.Context(), p.Name, p.UploadID)
	if err != nil {
		return uploadError(err, w, u)
	}
	uploadHeaders(w, u)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// PatchUpload appends a chunk. With Content-Range the chunk must start
// where the upload ends (else 416) and be as long as it says.
func (a *API) PatchUpload(w http.ResponseWriter, r *http.Request, p Path) error {
	start, body, err := chunk(r)
	if err != nil {
		return err
	}
	if err := a.tooLarge(r.ContentLength); err != nil {
		return err
	}
	u, err := a.Blobs.Append(r.Context(), p.Name, p.UploadID, start, body)
	u.ID, u.Repo = p.UploadID, p.Name
	if err != nil {
		return uploadError(err, w, u)
	}
	if err := checkChunkEnd(r, start, u.Offset); err != nil {
		return err
	}
	uploadHeaders(w, u)
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// FinishUpload closes an upload with PUT ?digest=, with or without a last chunk.
func (a *API) FinishUpload(w http.ResponseWriter, r *http.Request, p Path) error {
	ds := r.URL.Query().Get("digest")
	if ds == "" {
		return errcode.New(errcode.DigestInvalid, "closing an upload needs ?digest=<the blob's digest>")
	}
	d, err := parseDigest(ds)
	if err != nil {
		return err
	}
	start, body, err := chunk(r)
	if err != nil {
		return err
	}
	if err := a.tooLarge(r.ContentLength); err != nil {
		return err
	}
	if _, err := a.Blobs.Finish(r.Context(), p.Name, p.UploadID, start, body, d); err != nil {
		return uploadError(err, w, storage.Upload{ID: p.UploadID, Repo: p.Name})
	}
	return blobCreated(w, p.Name, d)
}

// CancelUpload drops an upload (204).
func (a *API) CancelUpload(w http.ResponseWriter, r *http.Request, p Path) error {
	if err := a.Blobs.Cancel(r.Context(), p.Name, p.UploadID); err != nil {
		return uploadError(err, w, storage.Upload{ID: p.UploadID, Repo: p.Name})
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// contentRange is the spec's "<start>-<end>", also with Docker's "bytes " prefix and "/total" suffix.
var contentRange = lazyRegexp(`^(?:bytes[ =])?([0-9]+)-([0-9]+)(?:/(?:[0-9]+|\*))?$`)

// chunk reads a request's Content-Range: where the chunk starts (-1 when
// not given) and the body, cut to the length the range names.
func chunk(r *http.Request) (int64, io.Reader, error) {
	cr := r.Header.Get("Content-Range")
	if cr == "" {
		return -1, r.Body, nil
	}
	start, end, err := parseContentRange(cr)
	if err != nil {
		return 0, nil, err
	}
	n := end - start + 1
	if r.ContentLength >= 0 && r.ContentLength != n {
		return 0, nil, errcode.New(errcode.SizeInvalid, "Content-Range %q is %d bytes but Content-Length is %d", cr, n, r.ContentLength)
	}
	return start, io.LimitReader(r.Body, n), nil
}

// parseContentRange reads a chunk's Content-Range: its first and last byte.
func parseContentRange(cr string) (start, end int64, err error) {
	m := contentRange().FindStringSubmatch(cr)
	if m == nil {
		return 0, 0, errcode.New(errcode.ChunkOutOfOrder, "Content-Range %q: want <start>-<end>", cr)
	}
	start, err1 := strconv.ParseInt(m[1], 10, 64)
	end, err2 := strconv.ParseInt(m[2], 10, 64)
	if err1 != nil || err2 != nil || end < start || end == math.MaxInt64 { // its length would overflow
		return 0, 0, errcode.New(errcode.ChunkOutOfOrder, "Content-Range %q is not a range of bytes", cr)
	}
	return start, end, nil
}

// checkChunkEnd refuses a chunk that arrived shorter than its Content-Range.
func checkChunkEnd(r *http.Request, start, offset int64) error {
	if start < 0 {
		return nil
	}
	_, end, err := parseContentRange(r.Header.Get("Content-Range"))
	if err == nil && offset != end+1 {
		return errcode.New(errcode.SizeInvalid, "chunk %d-%d ended at byte %d", start, end, offset)
	}
	return nil
}
