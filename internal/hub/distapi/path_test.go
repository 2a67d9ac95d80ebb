package distapi

import (
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/hub/errcode"
)

func TestParsePath(t *testing.T) {
	sha := "sha256:" + strings.Repeat("ab", 32)
	tests := []struct {
		path string
		want Path
		code string // expected error code, "" for success
	}{
		{"/v2/", Path{Kind: KindBase}, ""},
		{"/v2", Path{Kind: KindBase}, ""},
		{"/v2/_catalog", Path{Kind: KindCatalog}, ""},
		{"/v2/library/busybox/manifests/latest", Path{Kind: KindManifest, Name: "library/busybox", Reference: "latest"}, ""},
		{"/v2/a/manifests/" + sha, Path{Kind: KindManifest, Name: "a", Reference: sha, Digest: digestOf(sha)}, ""},
		{"/v2/a/b/c/blobs/" + sha, Path{Kind: KindBlob, Name: "a/b/c", Reference: sha, Digest: digestOf(sha)}, ""},
		{"/v2/a/blobs/uploads/", Path{Kind: KindUploadStart, Name: "a"}, ""},
		{"/v2/a/blobs/uploads", Path{Kind: KindUploadStart, Name: "a"}, ""},
		{"/v2/a/blobs/uploads/0f3c-9_x", Path{Kind: KindUpload, Name: "a", UploadID: "0f3c-9_x"}, ""},
		{"/v2/a/tags/list", Path{Kind: KindTags, Name: "a"}, ""},
		{"/v2/a/referrers/" + sha, Path{Kind: KindReferrers, Name: "a", Reference: sha, Digest: digestOf(sha)}, ""},
		// Names may contain the endpoint words themselves.
		{"/v2/blobs/manifests/tags/list", Path{Kind: KindTags, Name: "blobs/manifests"}, ""},
		{"/v2/x/blobs/uploads/manifests/v1", Path{Kind: KindManifest, Name: "x/blobs/uploads", Reference: "v1"}, ""},
		{"/v2/a__b/c--d/e.f/tags/list", Path{Kind: KindTags, Name: "a__b/c--d/e.f"}, ""},

		{"/v2/A/tags/list", Path{}, "NAME_INVALID"},
		{"/v2/a/../b/tags/list", Path{}, "NAME_INVALID"},
		{"/v2/a/%2e%2e/b/tags/list", Path{}, "NAME_INVALID"},
		{"/v2/a%2Fb/tags/list", Path{}, "NAME_INVALID"},
		{"/v2/a//b/tags/list", Path{}, "NAME_INVALID"},
		{"/v2//tags/list", Path{}, "NAME_INVALID"},
		{"/v2/tags/list", Path{}, "NAME_INVALID"},
		{"/v2/a_/tags/list", Path{}, "NAME_INVALID"},
		{"/v2/a___b/tags/list", Path{}, "NAME_INVALID"},
		{"/v2/a%zz/tags/list", Path{}, "NAME_INVALID"},
		{"/v2/" + strings.Repeat("a", 256) + "/tags/list", Path{}, "NAME_INVALID"},
		{"/v2/a/blobs/sha256:abc", Path{}, "DIGEST_INVALID"},
		{"/v2/a/blobs/latest", Path{}, "DIGEST_INVALID"},
		{"/v2/a/referrers/sha256:" + strings.Repeat("A", 64), Path{}, "DIGEST_INVALID"},
		{"/v2/a/manifests/.hidden", Path{}, "TAG_INVALID"},
		{"/v2/a/manifests/" + strings.Repeat("t", 129), Path{}, "TAG_INVALID"},
		{"/v2/a/blobs/uploads/..%2F..%2Fetc", Path{}, "BLOB_UPLOAD_UNKNOWN"},
		{"/v2/a/blobs/uploads/a.b", Path{}, "BLOB_UPLOAD_UNKNOWN"},
		{"/v2/a/everything", Path{}, "NOT_FOUND"},
		{"/v3/a/tags/list", Path{}, "NOT_FOUND"},
		{"/", Path{}, "NOT_FOUND"},
	}
	for _, tc := range tests {
		got, err := ParsePath(tc.path)
		if tc.code == "" {
			if err != nil || got != tc.want {
				t.Errorf("ParsePath(%q) = %+v, %v; want %+v", tc.path, got, err, tc.want)
			}
			continue
		}
		var e *errcode.Error
		if !errors.As(err, &e) || e.Code.Name != tc.code {
			t.Errorf("ParsePath(%q) = %+v, %v; want %s", tc.path, got, err, tc.code)
		}
	}
}

func digestOf(s string) digest.Digest { d, _ := parseDigest(s); return d }
