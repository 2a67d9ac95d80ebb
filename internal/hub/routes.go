package hub

import (
	"net/http"
	"strings"

	"github.com/strata-dev/strata/internal/hub/access"
	"github.com/strata-dev/strata/internal/hub/distapi"
)

// route is one endpoint: the method and path kind it answers, its
// handler, and the action it needs on the repository of the path.
type route struct {
	method string
	kind   distapi.Kind
	handle distapi.HandlerFunc
	action access.Action // "" needs nothing
}

// routes is the hub's whole HTTP surface.
func routes(a *distapi.API) []route {
	const (
		get, head, put, post, patch, del = http.MethodGet, http.MethodHead, http.MethodPut,
			http.MethodPost, http.MethodPatch, http.MethodDelete
	)
	return []route{
		{get, distapi.KindBase, a.Base, access.Ping},
		{head, distapi.KindBase, a.Base, access.Ping},
		{get, distapi.KindCatalog, a.Catalog, access.Catalog},
		{get, distapi.KindSearch, a.Search, access.Search},

		{get, distapi.KindManifest, a.GetManifest, access.Pull},
		{head, distapi.KindManifest, a.GetManifest, access.Pull},
		{put, distapi.KindManifest, a.PutManifest, access.Push},
		{del, distapi.KindManifest, a.DeleteManifest, access.Delete},

		{get, distapi.KindBlob, a.GetBlob, access.Pull},
		{head, distapi.KindBlob, a.GetBlob, access.Pull},
		{del, distapi.KindBlob, a.DeleteBlob, access.Delete},

		{post, distapi.KindUploadStart, a.StartUpload, access.Push},
		{get, distapi.KindUpload, a.UploadStatus, access.Push},
		{patch, distapi.KindUpload, a.PatchUpload, access.Push},
		{put, distapi.KindUpload, a.FinishUpload, access.Push},
		{del, distapi.KindUpload, a.CancelUpload, access.Push},

		{get, distapi.KindTags, a.Tags, access.Pull},
		{head, distapi.KindTags, a.Tags, access.Pull},
		{get, distapi.KindReferrers, a.Referrers, access.Pull},
		{head, distapi.KindReferrers, a.Referrers, access.Pull},
	}
}

// needs lists what a request must be allowed: the route's action on the
// path's repository, and (optionally) pull on the source of a
// cross-repository mount.
func needs(rt route, p distapi.Path, r *http.Request) []access.Need {
	if rt.action == "" {
		return nil
	}
	n := []access.Need{{Repository: p.Name, Action: rt.action}}
	if rt.kind == distapi.KindUploadStart {
		if from := r.URL.Query().Get("from"); from != "" && r.URL.Query().Get("mount") != "" {
			n = append(n, access.Need{Repository: from, Action: access.Pull, Optional: true})
		}
	}
	return n
}

// allowed lists the methods a path kind answers, for a 405's Allow header.
func allowed(table []route, k distapi.Kind) string {
	var ms []string
	for _, rt := range table {
		if rt.kind == k {
			ms = append(ms, rt.method)
		}
	}
	return strings.Join(ms, ", ")
}
