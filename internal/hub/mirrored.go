package hub

import (
	"net/http"

	"github.com/strata-dev/strata/internal/hub/access"
	"github.com/strata-dev/strata/internal/hub/distapi"
	"github.com/strata-dev/strata/internal/hub/errcode"
)

// mirrored turns a request for a name of the pull-through cache into one
// for the repository its content is stored in, filling it first from the
// upstream when a manifest or blob is asked for that the hub lacks. Pushes
// to mirrored names are refused here too, for a hub without accounts
// (with accounts, the access rules refuse them first).
func (s *server) mirrored(r *http.Request, rt route, p distapi.Path) (distapi.Path, error) {
	if s.deps.Mirror == nil || p.Name == "" {
		return p, nil
	}
	t, ok, err := s.deps.Mirror.Resolve(r.Context(), p.Name, rt.action == access.Pull)
	if err != nil || !ok {
		return p, err
	}
	if rt.action == access.Push {
		return p, errcode.New(errcode.Denied, "%s is a read-only mirror of %s", p.Name, t.Upstream())
	}
	p.Name = t.Stored
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return p, nil
	}
	switch rt.kind {
	case distapi.KindManifest:
		err = s.deps.Mirror.Manifest(r.Context(), t, p.Reference)
	case distapi.KindBlob:
		err = s.deps.Mirror.Blob(r.Context(), t, p.Digest)
	}
	return p, err
}
