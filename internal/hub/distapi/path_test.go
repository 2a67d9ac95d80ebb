package distapi

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/hub/errcode"
)

var sha = "sha256:" + strings.Repeat("ab", 32)

// parsePathCases are TestParsePath's table and FuzzParsePath's seeds.
var parsePathCases = []struct {
	path string
	want Path
	code string // expected error code, "" for success
}{
	{"/v2/", Path{Kind: KindBase}, ""},
	{"/v2", Path{Kind: KindBase}, ""},
	{"/v2/_catalog", Path{Kind: KindCatalog}, ""},
	{"/v1/search", Path{Kind: KindSearch}, ""},
	{"/v1/search/", Path{}, "NOT_FOUND"},
	{"/v1/%73earch", Path{}, "NOT_FOUND"},
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
	{"/v20/tags/list", Path{}, "NOT_FOUND"}, // found by FuzzParsePath: /v2 is a whole component
	{"/", Path{}, "NOT_FOUND"},
}

func TestParsePath(t *testing.T) {
	for _, tc := range parsePathCases {
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

// FuzzParsePath: a path that parses names a valid repository and a valid
// reference, is written back (plainly, and with every byte of its name and
// reference percent-escaped) as a path that parses the same, and a path
// that does not parse is a coded 4xx, never a 5xx.
func FuzzParsePath(f *testing.F) {
	for _, tc := range parsePathCases {
		f.Add(tc.path)
	}
	f.Fuzz(func(t *testing.T, escaped string) {
		p, err := ParsePath(escaped)
		if err != nil {
			var e *errcode.Error
			if !errors.As(err, &e) || e.Code.Status < 400 || e.Code.Status > 499 {
				t.Fatalf("ParsePath(%q): %v is not a coded 4xx", escaped, err)
			}
			return
		}
		if escaped != "/v2" && !strings.HasPrefix(escaped, "/v2/") && escaped != SearchPath {
			t.Fatalf("ParsePath(%q) = %+v: not under /v2/", escaped, p)
		}
		switch p.Kind {
		case KindBase, KindCatalog, KindSearch:
			if p != (Path{Kind: p.Kind}) {
				t.Fatalf("ParsePath(%q) = %+v: the %s endpoint names nothing", escaped, p, p.Kind)
			}
			return
		}
		if err := CheckName(p.Name); err != nil || len(p.Name) > MaxNameLength {
			t.Fatalf("ParsePath(%q) = %+v: name: %v", escaped, p, err)
		}
		for _, c := range strings.Split(p.Name, "/") {
			if c == "" || c == "." || c == ".." || strings.ContainsAny(c, "%\\") {
				t.Fatalf("ParsePath(%q) = %+v: name component %q", escaped, p, c)
			}
		}
		switch {
		case p.Digest != "":
			if p.Digest.Validate() != nil || p.Digest.String() != p.Reference || p.UploadID != "" {
				t.Fatalf("ParsePath(%q) = %+v: digest does not validate or is not the reference", escaped, p)
			}
		case p.Kind == KindManifest:
			if CheckTag(p.Reference) != nil {
				t.Fatalf("ParsePath(%q) = %+v: tag does not check", escaped, p)
			}
		case p.Kind == KindUpload:
			if !uploadPattern().MatchString(p.UploadID) || p.Reference != "" {
				t.Fatalf("ParsePath(%q) = %+v: upload id", escaped, p)
			}
		case p.Kind == KindBlob, p.Kind == KindReferrers:
			t.Fatalf("ParsePath(%q) = %+v: a %s without a digest", escaped, p, p.Kind)
		default:
			if p.Reference != "" || p.UploadID != "" {
				t.Fatalf("ParsePath(%q) = %+v: the %s endpoint has no reference", escaped, p, p.Kind)
			}
		}
		for _, esc := range []func(string) string{func(s string) string { return s }, escapeAll} {
			again := formatPath(t, p, esc)
			if q, err := ParsePath(again); err != nil || q != p {
				t.Fatalf("ParsePath(%q) = %+v, written back as %q which parses as %+v, %v", escaped, p, again, q, err)
			}
		}
	})
}

// formatPath writes p, a path that names a repository, as a request path,
// each name component and the reference through esc.
func formatPath(t *testing.T, p Path, esc func(string) string) string {
	t.Helper()
	parts := strings.Split(p.Name, "/")
	for i := range parts {
		parts[i] = esc(parts[i])
	}
	s := "/v2/" + strings.Join(parts, "/")
	switch p.Kind {
	case KindManifest:
		return s + "/manifests/" + esc(p.Reference)
	case KindBlob:
		return s + "/blobs/" + esc(p.Reference)
	case KindReferrers:
		return s + "/referrers/" + esc(p.Reference)
	case KindUploadStart:
		return s + "/blobs/uploads/"
	case KindUpload:
		return s + "/blobs/uploads/" + esc(p.UploadID)
	case KindTags:
		return s + "/tags/list"
	}
	t.Fatalf("formatPath: a %s path names no repository", p.Kind)
	return ""
}

// escapeAll percent-escapes every byte of s.
func escapeAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, "%%%02X", s[i])
	}
	return b.String()
}
