package image

import (
	"errors"
	"strings"
	"testing"

	"github.com/strata-dev/strata/internal/errdefs"
)

func TestParseTagged(t *testing.T) {
	tests := []struct{ in, full, familiar string }{
		{"nginx", "docker.io/library/nginx:latest", "nginx:latest"},
		{"nginx:1.25", "docker.io/library/nginx:1.25", "nginx:1.25"},
		{"library/nginx", "docker.io/library/nginx:latest", "nginx:latest"},
		{"docker.io/nginx", "docker.io/library/nginx:latest", "nginx:latest"},
		{"index.docker.io/library/nginx", "docker.io/library/nginx:latest", "nginx:latest"},
		{"team/app:v2", "docker.io/team/app:v2", "team/app:v2"},
		{"localhost/app", "localhost/app:latest", "localhost/app:latest"},
		{"localhost:5000/team/app:1", "localhost:5000/team/app:1", "localhost:5000/team/app:1"},
		{"127.0.0.1:5000/app", "127.0.0.1:5000/app:latest", "127.0.0.1:5000/app:latest"},
		{"ghcr.io/owner/repo:tag", "ghcr.io/owner/repo:tag", "ghcr.io/owner/repo:tag"},
		{"example.com/a/b/c", "example.com/a/b/c:latest", "example.com/a/b/c:latest"},
		{"busybox@sha256:" + strings.Repeat("a", 64), "docker.io/library/busybox@sha256:" + strings.Repeat("a", 64),
			"busybox@sha256:" + strings.Repeat("a", 64)},
	}
	for _, tc := range tests {
		r, err := ParseTagged(tc.in)
		if err != nil {
			t.Errorf("ParseTagged(%q): %v", tc.in, err)
			continue
		}
		if r.String() != tc.full || FamiliarString(r) != tc.familiar {
			t.Errorf("ParseTagged(%q) = %s (%s), want %s (%s)", tc.in, r, FamiliarString(r), tc.full, tc.familiar)
		}
	}
}

func TestParseReferenceInvalid(t *testing.T) {
	for _, in := range []string{
		"", "Nginx", "team/UPPER", "a b", "name:", ":tag", "nginx:tag with space", "-leading", "a//b",
		"nginx@sha256:abc", "nginx:" + strings.Repeat("t", 129), strings.Repeat("a", 64),
		"sha256:" + strings.Repeat("b", 64), "host:port:extra/x", "../escape",
	} {
		_, err := ParseReference(in)
		if !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("ParseReference(%q) = %v, want an invalid-argument error", in, err)
		}
	}
	_, err := ParseTag("busybox@sha256:" + strings.Repeat("a", 64))
	if !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("ParseTag of a digest reference = %v, want an error", err)
	}
}

func TestSplitNormalized(t *testing.T) {
	for _, in := range []string{"busybox", "busybox:1.36", "team/app:v2", "library/x/y:1", "localhost:5000/team/app:1",
		"localhost:5000/app", "ghcr.io/o/r@sha256:" + strings.Repeat("c", 64), "example.com/library/z:2"} {
		ref, err := ParseReference(in)
		if err != nil {
			t.Fatal(err)
		}
		repo, rest := SplitNormalized(ref.String())
		wantRest := Tag(ref)
		if d := RefDigest(ref); d != "" {
			wantRest = d.String()
		}
		if repo != FamiliarName(ref) || rest != wantRest {
			t.Errorf("SplitNormalized(%q) = %q, %q; want %q, %q", ref.String(), repo, rest, FamiliarName(ref), wantRest)
		}
	}
}
