package hub

import (
	"io"
	"net/http"

	"github.com/strata-dev/strata/internal/hub/access"
	"github.com/strata-dev/strata/internal/hub/deadline"
	"github.com/strata-dev/strata/internal/hub/distapi"
	"github.com/strata-dev/strata/internal/hub/errcode"
)

// mirrored turns a request for a name of the pull-through cache into one
// for the repository its content is stored in, filling it first from the
// upstream when a manifest or blob is asked for that the hub lacks. Pushes
// to mirrored names are refused here too, for a hub without accounts
// (with accounts, the access rules refuse them first).
//
// A blob the hub lacks is served as it arrives from the upstream (served
// is true then): see streamBlob.
func (s *server) mirrored(w http.ResponseWriter, r *http.Request, rt route, p distapi.Path) (_ distapi.Path, served bool, err error) {
	if s.deps.Mirror == nil || p.Name == "" {
		return p, false, nil
	}
	t, ok, err := s.deps.Mirror.Resolve(r.Context(), p.Name, rt.action == access.Pull)
	if err != nil || !ok {
		return p, false, err
	}
	if rt.action == access.Push {
		return p, false, errcode.New(errcode.Denied, "%s is a read-only mirror of %s", p.Name, t.Upstream())
	}
	p.Name = t.Stored
	switch {
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
	case rt.kind == distapi.KindManifest:
		err = s.deps.Mirror.Manifest(r.Context(), t, p.Reference)
	case rt.kind == distapi.KindBlob && r.Method == http.MethodHead:
		err = s.deps.Mirror.Blob(r.Context(), t, p.Digest)
	case rt.kind == distapi.KindBlob:
		var rc io.ReadCloser
		if rc, err = s.deps.Mirror.OpenBlob(r.Context(), t, p.Digest); err == nil && rc != nil {
			streamBlob(w, r, p, rc)
			return p, true, nil
		}
	}
	return p, false, err
}

// streamBlob answers a GET of a blob with its bytes as the mirror receives
// them: the whole blob (a Range is ignored, as RFC 9110 allows), its
// length unknown yet (chunked). A fill that fails cuts the response short,
// so the client never takes it for the whole blob.
func streamBlob(w http.ResponseWriter, r *http.Request, p distapi.Path, rc io.ReadCloser) {
	defer rc.Close()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Docker-Content-Digest", p.Digest.String())
	h.Set("ETag", `"`+p.Digest.String()+`"`)
	w.WriteHeader(http.StatusOK)
	ctl := http.NewResponseController(w)
	buf := make([]byte, 256<<10)
	for {
		n, err := rc.Read(buf)
		if n > 0 {
			deadline.Extend(w, r, int64(n))
			if _, werr := w.Write(buf[:n]); werr != nil {
				return // the client went away; the fill goes on for the others
			}
			ctl.Flush()
		}
		if err == io.EOF {
			return
		}
		if err != nil { // the fill failed: cut the answer short, so no client takes it as whole
			panic(http.ErrAbortHandler)
		}
	}
}
