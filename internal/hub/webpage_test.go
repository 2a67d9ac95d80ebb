package hub_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/hub"
	"github.com/strata-dev/strata/internal/testutil"
)

// A page's cost is bounded whatever was pushed: an index listing one
// image hundreds of times shows it once, its text is cut, and a
// repository's tags come in pages.
func TestWebPageBounds(t *testing.T) {
	h := testutil.StartAccountsHub(t, hub.Config{}, [2]string{"alice", "alice-pass-1"})
	w := newWebClient(t, h)
	w.signIn("alice", "alice-pass-1")
	tok, _ := getToken(t, h, "alice", "alice-pass-1", "repository:alice/app:pull,push")
	cfg := []byte(`{"architecture":"arm64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"history":[` +
		strings.Repeat(`{"created_by":"RUN true"},`, 50000) + `{"created_by":"RUN last"}]}`)
	if r := do(t, "POST", h.URL()+"/v2/alice/app/blobs/uploads/?digest="+digest.FromBytes(cfg).String(), map[string]string{"Authorization": "Bearer " + tok.Token}, cfg); r.StatusCode != 201 {
		t.Fatalf("config: %d", r.StatusCode)
	}
	man := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},"layers":[]}`,
		digest.FromBytes(cfg), len(cfg)))
	put := func(ref, mt string, body []byte) {
		t.Helper()
		if r := do(t, "PUT", h.URL()+"/v2/alice/app/manifests/"+ref, map[string]string{"Content-Type": mt, "Authorization": "Bearer " + tok.Token}, body); r.StatusCode != 201 {
			t.Fatalf("put %s: %d", ref, r.StatusCode)
		}
	}
	put(digest.FromBytes(man).String(), "application/vnd.oci.image.manifest.v1+json", man)
	entries := make([]json.RawMessage, 700)
	for i := range entries {
		entries[i] = json.RawMessage(fmt.Sprintf(`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":%q,"size":%d}`, digest.FromBytes(man), len(man)))
	}
	idx, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries})
	put("multi", "application/vnd.oci.image.index.v1+json", idx)
	for i := range 120 {
		put(fmt.Sprintf("t%03d", i), "application/vnd.oci.image.manifest.v1+json", man)
	}

	page := w.get("/r/alice/app/-/tags/multi")
	if page.Status != 200 || strings.Count(page.Body, "/r/alice/app/-/manifests/") != 1 ||
		!strings.Contains(page.Body, "The index lists 700 entries; 1 are distinct") || !strings.Contains(page.Body, "linux/arm64") {
		t.Fatalf("the index page: %d\n%s", page.Status, page.Body)
	}
	if !strings.Contains(page.Body, "cut at 64 KiB") || len(page.Body) > 200<<10 {
		t.Fatalf("the index page is %d bytes; its text was not cut", len(page.Body))
	}
	image := w.get("/r/alice/app/-/tags/t000")
	if !strings.Contains(image.Body, "and 49501 more, not shown") || strings.Count(image.Body, "RUN true") > 500 {
		t.Fatalf("the image page shows %d history lines", strings.Count(image.Body, "RUN true"))
	}
	for _, tc := range []struct {
		query      string
		tags       int
		first      string
		next, prev bool
	}{
		{"", 50, ">multi<", true, false},
		{"?page=2", 50, ">t049<", true, true},
		{"?page=3", 21, ">t099<", false, true},
		{"?sort=date&page=3", 21, ">t019<", false, true},
		{"?page=9", 0, "No more tags", false, false},
	} {
		r := w.get("/r/alice/app" + tc.query)
		if got := strings.Count(r.Body, `class="tag" href=`); got != tc.tags || !strings.Contains(r.Body, tc.first) ||
			strings.Contains(r.Body, "Next page") != tc.next || strings.Contains(r.Body, "Newer page") != tc.prev {
			t.Errorf("/r/alice/app%s: %d tags (want %d), has %q: %v, next %v, prev %v", tc.query, got, tc.tags, tc.first,
				strings.Contains(r.Body, tc.first), strings.Contains(r.Body, "Next page"), strings.Contains(r.Body, "Newer page"))
		}
	}
	if r := w.get("/r/alice/app"); !strings.Contains(r.Body, "of 21.5 GB stored") {
		t.Errorf("the repository page does not show the namespace's storage against its quota")
	}
	if r := w.get("/"); !strings.Contains(r.Body, "of 21.5 GB stored") {
		t.Errorf("the dashboard does not show the namespace's storage against its quota")
	}
}
