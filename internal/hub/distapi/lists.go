package distapi

import (
	"encoding/json"
	"net/http"
	"strconv"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-dev/strata/internal/hub/access"
	"github.com/strata-dev/strata/internal/hub/errcode"
	"github.com/strata-dev/strata/internal/hub/meta"
)

// Listing limits: a page holds at most maxPage entries; the catalog pages
// by default, tags only when asked (n=).
const (
	maxPage        = 10000
	defaultCatalog = 1000
)

// Tags lists a repository's tags in byte order, paged by ?n= and ?last=
// with a Link header to the next page.
func (a *API) Tags(w http.ResponseWriter, r *http.Request, p Path) error {
	pg, err := pageParams(r, -1, maxPage)
	if err != nil {
		return err
	}
	tags, more, err := a.Meta.Tags(r.Context(), p.Name, pg)
	if err != nil {
		return notFoundAs(err, errcode.NameUnknown)
	}
	if more {
		nextLink(w, "/v2/"+p.Name+"/tags/list", tags, pg.N)
	}
	return writeJSON(w, r, "application/json", struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{p.Name, tags})
}

// Catalog lists the names of the repositories the request's subject may
// pull, in byte order, paged like Tags.
func (a *API) Catalog(w http.ResponseWriter, r *http.Request, _ Path) error {
	pg, err := pageParams(r, defaultCatalog, maxPage)
	if err != nil {
		return err
	}
	sub := access.SubjectFrom(r.Context())
	f := meta.RepoFilter{All: sub.All || sub.Admin, Viewer: sub.User}
	repos, more, err := a.Meta.ListRepositories(r.Context(), f, pg)
	if err != nil {
		return err
	}
	names := make([]string, len(repos))
	for i, repo := range repos {
		names[i] = repo.Name
	}
	if more {
		nextLink(w, "/v2/_catalog", names, pg.N)
	}
	return writeJSON(w, r, "application/json", struct {
		Repositories []string `json:"repositories"`
	}{names})
}

// Referrers answers the referrers API: an index of the manifests whose
// subject is the digest, filtered by ?artifactType= (said in
// OCI-Filters-Applied). An unknown subject has an empty list, not a 404.
func (a *API) Referrers(w http.ResponseWriter, r *http.Request, p Path) error {
	at := r.URL.Query().Get("artifactType")
	refs, err := a.Meta.Referrers(r.Context(), p.Name, p.Digest, at)
	if err != nil {
		return err
	}
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{}}
	idx.SchemaVersion = 2
	for _, d := range refs {
		idx.Manifests = append(idx.Manifests, ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest,
			Size: d.Size, ArtifactType: d.ArtifactType, Annotations: d.Annotations})
	}
	if at != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	return writeJSON(w, r, ocispec.MediaTypeImageIndex, idx)
}

func writeJSON(w http.ResponseWriter, r *http.Request, contentType string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(b)
	}
	return nil
}
