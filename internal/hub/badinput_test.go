package hub_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/hub"
	"github.com/strata-dev/strata/internal/testutil"
)

type badCase struct {
	name    string
	method  string
	path    string // raw, sent as is
	header  map[string]string
	body    []byte
	status  int
	code    string                                 // the error code in the envelope ("" for none checked)
	prepare func(t *testing.T, base string) string // returns the path, for cases that need an upload
}

// Hostile and malformed requests each get the spec's error, and the image
// already stored stays whole and pullable.
func TestBadInput(t *testing.T) {
	h := testutil.StartHub(t, hub.Config{})
	base := "http://" + h.Addr
	img := randomImage(t, 2)
	good := push(t, h.Addr+"/good/repo:1", img)
	layers, _ := img.Layers()
	layer, _ := layers[0].Digest()
	cfgDigest, _ := img.ConfigName()
	rawManifest, _ := img.RawManifest()
	missing := digest.FromString("never pushed")
	other := digest.FromString("other content")

	manifest := func(cfg, layer string) []byte {
		return []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
			"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":2},
			"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":%q,"size":3}]}`, cfg, layer))
	}
	index := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",
		"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":%q,"size":10}]}`, missing))
	ociJSON := map[string]string{"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
	// BuildKit's registry cache: an index whose entries are blobs.
	layerSize, _ := layers[0].Size()
	cacheIndex := func(mediaType string, d digest.Digest, size int64) []byte {
		return []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",
			"manifests":[{"mediaType":%q,"digest":%q,"size":%d}]}`, mediaType, d, size))
	}
	const cacheConfig, gzipLayer = "application/vnd.buildkit.cacheconfig.v0", "application/vnd.oci.image.layer.v1.tar+gzip"
	ociIndex := map[string]string{"Content-Type": "application/vnd.oci.image.index.v1+json"}
	startUpload := func(t *testing.T, base string) string {
		resp := do(t, "POST", base+"/v2/good/repo/blobs/uploads/", nil, nil)
		return resp.Header.Get("Location")
	}

	cases := []badCase{
		{name: "digest not hex", method: "GET", path: "/v2/good/repo/blobs/sha256:zzzz", status: 400, code: "DIGEST_INVALID"},
		{name: "digest too short", method: "GET", path: "/v2/good/repo/blobs/sha256:" + strings.Repeat("a", 63), status: 400, code: "DIGEST_INVALID"},
		{name: "digest algorithm unknown", method: "HEAD", path: "/v2/good/repo/blobs/md5:d41d8cd98f00b204e9800998ecf8427e", status: 400},
		{name: "digest uppercase", method: "GET", path: "/v2/good/repo/manifests/sha256:" + strings.Repeat("A", 64), status: 400, code: "DIGEST_INVALID"},
		{name: "name uppercase", method: "GET", path: "/v2/Good/repo/tags/list", status: 400, code: "NAME_INVALID"},
		{name: "name dot-dot", method: "GET", path: "/v2/good/../repo/tags/list", status: 400, code: "NAME_INVALID"},
		{name: "name escaped dot-dot", method: "GET", path: "/v2/good/%2e%2e/repo/tags/list", status: 400, code: "NAME_INVALID"},
		{name: "name escaped slash", method: "GET", path: "/v2/good%2Frepo/tags/list", status: 400, code: "NAME_INVALID"},
		{name: "name empty component", method: "GET", path: "/v2/good//repo/tags/list", status: 400, code: "NAME_INVALID"},
		{name: "name trailing separator", method: "GET", path: "/v2/good-/repo/tags/list", status: 400, code: "NAME_INVALID"},
		{name: "name too long", method: "GET", path: "/v2/" + strings.Repeat("a/", 128) + "b/tags/list", status: 400, code: "NAME_INVALID"},
		{name: "tag invalid", method: "GET", path: "/v2/good/repo/manifests/-tag", status: 400, code: "TAG_INVALID"},
		{name: "tag too long", method: "PUT", path: "/v2/good/repo/manifests/" + strings.Repeat("t", 129), body: rawManifest, status: 400, code: "TAG_INVALID"},
		{name: "tag param invalid", method: "PUT", path: "/v2/good/repo/manifests/" + good.String() + "?tag=.bad", body: rawManifest, status: 400, code: "TAG_INVALID"},
		{name: "manifest digest mismatch", method: "PUT", path: "/v2/good/repo/manifests/" + other.String(), body: rawManifest, status: 400, code: "DIGEST_INVALID"},
		{name: "manifest not json", method: "PUT", path: "/v2/good/repo/manifests/1", header: ociJSON, body: []byte("{not json"), status: 400, code: "MANIFEST_INVALID"},
		{name: "manifest schema 1", method: "PUT", path: "/v2/good/repo/manifests/1", header: map[string]string{"Content-Type": "application/vnd.docker.distribution.manifest.v1+prettyjws"},
			body: []byte(`{"schemaVersion":1,"name":"good/repo","tag":"1","fsLayers":[]}`), status: 400, code: "MANIFEST_INVALID"},
		{name: "manifest bad layer digest", method: "PUT", path: "/v2/good/repo/manifests/1", header: ociJSON, body: manifest(cfgDigest.String(), "sha256:nothex"), status: 400, code: "MANIFEST_INVALID"},
		{name: "manifest unknown media type", method: "PUT", path: "/v2/good/repo/manifests/1", header: map[string]string{"Content-Type": "text/plain"}, body: []byte(`{"schemaVersion":2}`), status: 400, code: "MANIFEST_INVALID"},
		{name: "manifest oversized", method: "PUT", path: "/v2/good/repo/manifests/1", header: ociJSON, body: bytes.Repeat([]byte(" "), 4<<20+1), status: 413, code: "MANIFEST_INVALID"},
		{name: "manifest names missing blob", method: "PUT", path: "/v2/good/repo/manifests/1", header: ociJSON, body: manifest(cfgDigest.String(), missing.String()), status: 400, code: "MANIFEST_BLOB_UNKNOWN"},
		{name: "manifest names blob of another repository", method: "PUT", path: "/v2/other/repo/manifests/1", header: ociJSON, body: manifest(cfgDigest.String(), layer.String()), status: 400, code: "MANIFEST_BLOB_UNKNOWN"},
		{name: "index names missing manifest", method: "PUT", path: "/v2/good/repo/manifests/1", header: map[string]string{"Content-Type": "application/vnd.oci.image.index.v1+json"}, body: index, status: 400, code: "MANIFEST_BLOB_UNKNOWN"},
		{name: "cache index names missing blob", method: "PUT", path: "/v2/good/repo/manifests/cache", header: ociIndex, body: cacheIndex(cacheConfig, missing, 10), status: 400, code: "MANIFEST_BLOB_UNKNOWN"},
		{name: "cache index gives a blob a wrong size", method: "PUT", path: "/v2/good/repo/manifests/cache", header: ociIndex, body: cacheIndex(gzipLayer, digest.Digest(layer.String()), layerSize+1), status: 400, code: "MANIFEST_INVALID"},
		{name: "cache index gives a blob a zero size", method: "PUT", path: "/v2/good/repo/manifests/cache", header: ociIndex, body: cacheIndex(gzipLayer, digest.Digest(layer.String()), 0), status: 400, code: "MANIFEST_INVALID"},
		{name: "cache index names blob of another repository", method: "PUT", path: "/v2/other/repo/manifests/cache", header: ociIndex, body: cacheIndex(gzipLayer, digest.Digest(layer.String()), layerSize), status: 400, code: "MANIFEST_BLOB_UNKNOWN"},
		{name: "index names a blob as a manifest", method: "PUT", path: "/v2/good/repo/manifests/cache", header: ociIndex, body: cacheIndex("application/vnd.oci.image.manifest.v1+json", digest.Digest(layer.String()), layerSize), status: 400, code: "MANIFEST_BLOB_UNKNOWN"},
		{name: "index entry without a media type", method: "PUT", path: "/v2/good/repo/manifests/cache", header: ociIndex, body: cacheIndex("", digest.Digest(layer.String()), layerSize), status: 400, code: "MANIFEST_INVALID"},
		{name: "blob of another repository", method: "GET", path: "/v2/other/repo/blobs/" + layer.String(), status: 404, code: "BLOB_UNKNOWN"},
		{name: "blob wrong content in one POST", method: "POST", path: "/v2/good/repo/blobs/uploads/?digest=" + missing.String(), body: []byte("not it"), status: 400, code: "DIGEST_INVALID"},
		{name: "overwrite a stored blob", method: "POST", path: "/v2/good/repo/blobs/uploads/?digest=" + layer.String(), body: []byte("evil"), status: 400, code: "DIGEST_INVALID"},
		{name: "overwrite a stored blob in an upload", method: "PUT", prepare: startUpload, header: map[string]string{}, body: []byte("evil"),
			path: "?digest=" + layer.String(), status: 400, code: "DIGEST_INVALID"},
		{name: "finish without digest", method: "PUT", prepare: startUpload, path: "", body: []byte("x"), status: 400, code: "DIGEST_INVALID"},
		{name: "chunk out of order", method: "PATCH", prepare: startUpload, path: "", header: map[string]string{"Content-Range": "10-19"}, body: make([]byte, 10), status: 416, code: "BLOB_UPLOAD_INVALID"},
		{name: "chunk range malformed", method: "PATCH", prepare: startUpload, path: "", header: map[string]string{"Content-Range": "zero-ten"}, body: make([]byte, 10), status: 416, code: "BLOB_UPLOAD_INVALID"},
		{name: "chunk range backwards", method: "PATCH", prepare: startUpload, path: "", header: map[string]string{"Content-Range": "9-0"}, body: make([]byte, 10), status: 416, code: "BLOB_UPLOAD_INVALID"},
		{name: "chunk longer than its range", method: "PATCH", prepare: startUpload, path: "", header: map[string]string{"Content-Range": "0-4"}, body: make([]byte, 10), status: 400, code: "SIZE_INVALID"},
		{name: "upload unknown", method: "PATCH", path: "/v2/good/repo/blobs/uploads/0123456789abcdef", body: []byte("x"), status: 404, code: "BLOB_UPLOAD_UNKNOWN"},
		{name: "upload id with path tricks", method: "GET", path: "/v2/good/repo/blobs/uploads/..%2f..%2fmeta.db", status: 404, code: "BLOB_UPLOAD_UNKNOWN"},
		{name: "upload of another repository", method: "GET", status: 404, code: "BLOB_UPLOAD_UNKNOWN", prepare: func(t *testing.T, base string) string {
			return strings.Replace(startUpload(t, base), "/good/repo/", "/other/repo/", 1)
		}},
		{name: "mount from invalid name", method: "POST", path: "/v2/good/repo/blobs/uploads/?mount=" + layer.String() + "&from=../etc", status: 400, code: "NAME_INVALID"},
		{name: "mount invalid digest", method: "POST", path: "/v2/good/repo/blobs/uploads/?mount=sha256:x&from=good/repo", status: 400, code: "DIGEST_INVALID"},
		{name: "range past the end", method: "GET", path: "/v2/good/repo/blobs/" + layer.String(), header: map[string]string{"Range": "bytes=999999-"}, status: 416, code: "RANGE_INVALID"},
		{name: "range backwards", method: "GET", path: "/v2/good/repo/blobs/" + layer.String(), header: map[string]string{"Range": "bytes=9-3"}, status: 416, code: "RANGE_INVALID"},
		{name: "range garbage", method: "GET", path: "/v2/good/repo/blobs/" + layer.String(), header: map[string]string{"Range": "bytes=x-y"}, status: 416, code: "RANGE_INVALID"},
		{name: "page size negative", method: "GET", path: "/v2/good/repo/tags/list?n=-1", status: 400, code: "PAGINATION_NUMBER_INVALID"},
		{name: "page size not a number", method: "GET", path: "/v2/_catalog?n=lots", status: 400, code: "PAGINATION_NUMBER_INVALID"},
		{name: "tags of unknown repository", method: "GET", path: "/v2/nobody/here/tags/list", status: 404, code: "NAME_UNKNOWN"},
		{name: "delete a blob a manifest uses", method: "DELETE", path: "/v2/good/repo/blobs/" + layer.String(), status: 409, code: "DENIED"},
		{name: "method not allowed", method: "POST", path: "/v2/good/repo/manifests/1", status: 405, code: "UNSUPPORTED"},
		{name: "not an endpoint", method: "GET", path: "/v2/good/repo/everything", status: 404},
		{name: "not the API", method: "GET", path: "/admin", status: 404},
		{name: "delete a manifest an index names", method: "DELETE", status: 409, code: "DENIED", prepare: func(t *testing.T, base string) string {
			idx, err := random.Index(256, 1, 2)
			if err != nil {
				t.Fatal(err)
			}
			ref, _ := name.ParseReference(strings.TrimPrefix(base, "http://") + "/good/repo:multi")
			if err := remote.WriteIndex(ref, idx); err != nil {
				t.Fatal(err)
			}
			m, _ := idx.IndexManifest()
			return "/v2/good/repo/manifests/" + m.Manifests[0].Digest.String()
		}},
	}
	runBadCases(t, base, cases)

	// Nothing stored was harmed: the image pulls whole and verified, its
	// tag still points at it, and no repository appeared.
	ref, _ := name.ParseReference(h.Addr + "/good/repo:1")
	pulled, err := remote.Image(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(pulled); err != nil {
		t.Fatalf("the stored image is damaged: %v", err)
	}
	if d, _ := pulled.Digest(); d != good {
		t.Fatalf("tag 1 now points at %s, not %s", d, good)
	}
	resp := do(t, "GET", base+"/v2/_catalog", nil, nil)
	cat, _ := io.ReadAll(resp.Body)
	if strings.TrimSpace(string(cat)) != `{"repositories":["good/repo"]}` {
		t.Fatalf("catalog after bad input: %s", cat)
	}
}

func do(t *testing.T, method, url string, header map[string]string, body []byte) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// runBadCases sends each case and checks its status and error code.
func runBadCases(t *testing.T, base string, cases []badCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := c.path
			if c.prepare != nil {
				path = c.prepare(t, base) + c.path
			}
			resp := do(t, c.method, base+path, c.header, c.body)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.status {
				t.Fatalf("%s %s: status %d, want %d: %s", c.method, path, resp.StatusCode, c.status, body)
			}
			if c.code == "" || c.method == "HEAD" {
				return
			}
			var env struct {
				Errors []struct{ Code, Message string }
			}
			if err := json.Unmarshal(body, &env); err != nil || len(env.Errors) == 0 {
				t.Fatalf("no error envelope: %s", body)
			}
			if env.Errors[0].Code != c.code || env.Errors[0].Message == "" {
				t.Fatalf("error %+v, want code %s with a message", env.Errors[0], c.code)
			}
		})
	}
}

// The limits an operator sets, each refused with the spec's code and a
// message that says which limit: a blob's size (said up front, or only
// found while it streams), a manifest's size, uploads at once, and the
// namespace's quota (a push, and a mount).
func TestLimits(t *testing.T) {
	h := testutil.StartHub(t, hub.Config{MaxBlobSize: 1000, MaxManifestSize: 2000, Quota: 2000, MaxUploads: 3})
	base := "http://" + h.Addr
	blob := func(c byte, n int) ([]byte, string) {
		b := bytes.Repeat([]byte{c}, n)
		return b, digest.FromBytes(b).String()
	}
	fill, fillDigest := blob('f', 1000)
	for _, repo := range []string{"full/a", "full/b"} {
		if r := do(t, "POST", base+"/v2/"+repo+"/blobs/uploads/?digest="+fillDigest, nil, fill); r.StatusCode != 201 {
			t.Fatalf("filling %s: %d", repo, r.StatusCode)
		}
	}
	more, moreDigest := blob('m', 1000)
	if r := do(t, "POST", base+"/v2/full/b/blobs/uploads/?digest="+moreDigest, nil, more); r.StatusCode != 201 {
		t.Fatalf("filling full/b: %d", r.StatusCode)
	}
	elsewhere, elsewhereDigest := blob('e', 1000)
	do(t, "POST", base+"/v2/other/x/blobs/uploads/?digest="+elsewhereDigest, nil, elsewhere)
	big, bigDigest := blob('b', 1001)
	last, lastDigest := blob('l', 1000)
	upload := func(t *testing.T, base string) string {
		return do(t, "POST", base+"/v2/small/repo/blobs/uploads/", nil, nil).Header.Get("Location")
	}
	runBadCases(t, base, []badCase{
		{name: "blob too big, said", method: "POST", path: "/v2/small/repo/blobs/uploads/?digest=" + bigDigest, body: big, status: 413, code: "SIZE_INVALID"},
		{name: "blob too big, streamed", method: "PATCH", prepare: upload, header: map[string]string{"Transfer-Encoding": "chunked"}, body: big, status: 413, code: "SIZE_INVALID"},
		{name: "manifest too big", method: "PUT", path: "/v2/small/repo/manifests/1", header: map[string]string{"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
			body: bytes.Repeat([]byte(" "), 2001), status: 413, code: "MANIFEST_INVALID"},
		{name: "a third blob past the quota", method: "POST", path: "/v2/full/c/blobs/uploads/?digest=" + lastDigest, body: last, status: 403, code: "DENIED"},
		{name: "an upload into a full namespace", method: "POST", path: "/v2/full/c/blobs/uploads/", status: 403, code: "DENIED"},
		{name: "a mount past the quota", method: "POST", path: "/v2/full/c/blobs/uploads/?mount=" + elsewhereDigest + "&from=other/x", status: 403, code: "DENIED"},
	})
	// A blob the namespace has already is mounted within the quota.
	if r := do(t, "POST", base+"/v2/full/c/blobs/uploads/?mount="+fillDigest+"&from=full/a", nil, nil); r.StatusCode != 201 {
		t.Fatalf("mounting what the namespace stores already: %d", r.StatusCode)
	}
	// Uploads at once: three are going (one above, two here); a fourth waits.
	upload(t, base)
	upload(t, base)
	r := do(t, "POST", base+"/v2/small/repo/blobs/uploads/", nil, nil)
	if body, _ := io.ReadAll(r.Body); r.StatusCode != 429 || r.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "TOOMANYREQUESTS") {
		t.Fatalf("a fourth upload at once: %d %s", r.StatusCode, body)
	}
}
