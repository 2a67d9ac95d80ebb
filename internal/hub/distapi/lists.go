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

// searchResult is one repository in Docker's search answer.
type searchResult struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	StarCount   int    `json:"star_count"`
	IsOfficial  bool   `json:"is_official"`
	IsAutomated bool   `json:"is_automated"`
}

// Search answers Docker's /v1/search (docker search HUB/term): the
// repositories the request's subject may pull whose name or description
// contains ?q=, by name, ?n= (1 to 100, default 25) to a ?page= (from 1).
// The subject's filter is the catalog's, so search shows what _catalog shows.
func (a *API) Search(w http.ResponseWriter, r *http.Request, _ Path) error {
	q := r.URL.Query()
	n, err := boundedParam(q.Get("n"), 25, 1, 100)
	if err != nil {
		return err
	}
	page, err := boundedParam(q.Get("page"), 1, 1, maxPage/n)
	if err != nil {
		return err
	}
	sub := access.SubjectFrom(r.Context())
	f := meta.RepoFilter{All: sub.All || sub.Admin, Viewer: sub.User, Query: q.Get("q")}
	results := []searchResult{}
	total, skip := 0, (page-1)*n
	for pg := (meta.Page{N: defaultCatalog}); total < maxPage; {
		repos, more, err := a.Meta.ListRepositories(r.Context(), f, pg)
		if err != nil {
			return err
		}
		for _, repo := range repos {
			if total >= skip && len(results) < n {
				results = append(results, searchResult{Name: repo.Name, Description: repo.Description})
			}
			total++
		}
		if !more || len(repos) == 0 {
			break
		}
		pg.Last = repos[len(repos)-1].Name
	}
	return writeJSON(w, r, "application/json", struct {
		NumResults int            `json:"num_results"`
		NumPages   int            `json:"num_pages"`
		Page       int            `json:"page"`
		PageSize   int            `json:"page_size"`
		Query      string         `json:"query"`
		Results    []searchResult `json:"results"`
	}{total, (total + n - 1) / n, page, n, q.Get("q"), results})
}

// boundedParam reads a number parameter: def when absent, else from lo to hi.
func boundedParam(s string, def, lo, hi int) (int, error) {
	if s == "" {
		return def, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < lo || v > hi {
		return 0, errcode.New(errcode.PaginationInvalid, "%q: want a number from %d to %d", s, lo, hi)
	}
	return v, nil
}
