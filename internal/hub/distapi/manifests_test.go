package distapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/hub/errcode"
	"github.com/strata-dev/strata/internal/hub/meta"
	"github.com/strata-dev/strata/internal/image"
)

func dg(c byte) string { return "sha256:" + strings.Repeat(string(c), 64) }

func desc(mt string, c byte) string {
	return fmt.Sprintf(`{"mediaType":%q,"digest":%q,"size":3}`, mt, dg(c))
}

const (
	ociManifest = "application/vnd.oci.image.manifest.v1+json"
	ociIndex    = "application/vnd.oci.image.index.v1+json"
	ociConfig   = "application/vnd.oci.image.config.v1+json"
	ociLayer    = "application/vnd.oci.image.layer.v1.tar+gzip"
)

// describeCases are TestDescribe's table and FuzzDescribe's seeds: a
// manifest pushed with a Content-Type, and the media type and references
// the hub records (blobs, children, subject), or "" when it is refused.
var describeCases = []struct {
	contentType, body string
	mediaType         string
	blobs, children   []string
	subject           string
}{
	{ociManifest, `{"schemaVersion":2,"mediaType":"` + ociManifest + `","config":` + desc(ociConfig, 'c') + `,"layers":[` + desc(ociLayer, '1') + `,` + desc(ociLayer, '2') + `]}`,
		ociManifest, []string{dg('c'), dg('1'), dg('2')}, nil, ""},
	{"", `{"schemaVersion":2,"config":` + desc(ociConfig, 'c') + `,"layers":[]}`, ociManifest, []string{dg('c')}, nil, ""},
	{image.MediaTypeDockerManifest, `{"schemaVersion":2,"config":` + desc(image.MediaTypeDockerConfig, 'c') + `,"layers":[` +
		desc(image.MediaTypeDockerLayer, '1') + `,` + desc(image.MediaTypeDockerForeignLayer, 'f') + `]}`,
		image.MediaTypeDockerManifest, []string{dg('c'), dg('1')}, nil, ""},
	{ociManifest, `{"schemaVersion":2,"mediaType":"` + ociManifest + `","artifactType":"application/x.sig","config":` + desc("application/vnd.oci.empty.v1+json", 'e') +
		`,"layers":[` + desc("application/x.sig", '5') + `],"subject":` + desc(ociManifest, 'a') + `}`,
		ociManifest, []string{dg('e'), dg('5')}, nil, dg('a')},
	{"application/octet-stream", `{"schemaVersion":2,"manifests":[` + desc(ociManifest, 'a') + `,` + desc(ociManifest, 'b') + `]}`,
		ociIndex, nil, []string{dg('a'), dg('b')}, ""},
	{ociIndex, `{"schemaVersion":2,"mediaType":"` + image.MediaTypeDockerManifestList + `","manifests":[` + desc(image.MediaTypeDockerManifest, 'a') + `]}`,
		image.MediaTypeDockerManifestList, nil, []string{dg('a')}, ""},
	{ociManifest, `{"schemaVersion":1,"fsLayers":[]}`, "", nil, nil, ""},
	{"", `{"schemaVersion":2,"fsLayers":[]}`, "", nil, nil, ""},
	{ociManifest, `{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:abc","size":1}}`, "", nil, nil, ""},
	{ociManifest, `{"schemaVersion":2,"config":` + desc(ociConfig, 'c') + `,"layers":[{"mediaType":"x","digest":"` + dg('1') + `","size":-1}]}`, "", nil, nil, ""},
	{ociIndex, `{"schemaVersion":2,"manifests":[{"digest":"` + dg('a') + `","size":1}]}`, "", nil, nil, ""},
	{"application/json", `{"schemaVersion":2}`, "", nil, nil, ""},
	{ociManifest, `not json`, "", nil, nil, ""},
	// Documents that read as both kinds (CVE-2021-41190): a client taking it
	// for the other kind would fetch what the hub never checked.
	{ociManifest, `{"schemaVersion":2,"config":` + desc(ociConfig, 'c') + `,"layers":[],"manifests":[` + desc(ociManifest, 'a') + `]}`, "", nil, nil, ""},
	{ociIndex, `{"schemaVersion":2,"manifests":[],"layers":[` + desc(ociLayer, '1') + `]}`, "", nil, nil, ""},
	{"", `{"schemaVersion":2,"manifests":[],"config":` + desc(ociConfig, 'c') + `}`, "", nil, nil, ""},
	{ociManifest, `{"schemaVersion":2,"config":` + desc(ociConfig, 'c') + `}garbage`, "", nil, nil, ""},
}

func TestDescribe(t *testing.T) {
	for _, tc := range describeCases {
		m, err := Describe(tc.contentType, []byte(tc.body))
		if tc.mediaType == "" {
			var e *errcode.Error
			if !errors.As(err, &e) || e.Code != errcode.ManifestInvalid {
				t.Errorf("Describe(%q, %s) = %s, %v; want MANIFEST_INVALID", tc.contentType, tc.body, m.MediaType, err)
			}
			continue
		}
		if err != nil || m.MediaType != tc.mediaType || !slices.Equal(strs(m.Blobs), tc.blobs) ||
			!slices.Equal(strs(m.Children), tc.children) || string(m.Subject) != tc.subject {
			t.Errorf("Describe(%q, %s) = %s, blobs %v, children %v, subject %q, %v; want %s, blobs %v, children %v, subject %q",
				tc.contentType, tc.body, m.MediaType, m.Blobs, m.Children, m.Subject, err,
				tc.mediaType, tc.blobs, tc.children, tc.subject)
		}
	}
}

func strs(ds []digest.Digest) []string {
	var out []string
	for _, d := range ds {
		out = append(out, string(d))
	}
	return out
}

// FuzzDescribe: a manifest the hub accepts is a manifest or an index whose
// every reference is a valid digest; it is read the same whatever
// Content-Type it came with once its type is known, the references
// recorded are exactly what clients will fetch (image.References, less
// non-distributable layers), it re-parses to the same references when
// written out again, and it reads as one kind only (no "manifests" in a
// manifest, no "config" or "layers" in an index). A refusal is MANIFEST_INVALID.
func FuzzDescribe(f *testing.F) {
	for _, tc := range describeCases {
		f.Add(tc.contentType, []byte(tc.body))
	}
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		m, err := Describe(contentType, body)
		if err != nil {
			var e *errcode.Error
			if !errors.As(err, &e) || e.Code != errcode.ManifestInvalid {
				t.Fatalf("Describe(%q, %q): %v; want MANIFEST_INVALID", contentType, body, err)
			}
			return
		}
		isIndex := image.IsIndex(m.MediaType)
		if !isIndex && !image.IsManifest(m.MediaType) {
			t.Fatalf("Describe(%q, %q) accepted media type %q", contentType, body, m.MediaType)
		}
		all := append(slices.Clone(m.Blobs), m.Children...)
		if m.Subject != "" {
			all = append(all, m.Subject)
		}
		for _, d := range all {
			if err := d.Validate(); err != nil {
				t.Fatalf("Describe(%q, %q) recorded digest %q: %v", contentType, body, d, err)
			}
		}
		again, err := Describe(m.MediaType, body)
		if err != nil || !sameRefs(again, m) || again.MediaType != m.MediaType {
			t.Fatalf("Describe(%q, %q) = %+v, but as %s it is %+v, %v", contentType, body, m, m.MediaType, again, err)
		}
		refs, subject, err := image.References(m.MediaType, body)
		if err != nil {
			t.Fatalf("Describe(%q, %q) accepted what image.References refuses: %v", contentType, body, err)
		}
		var want meta.Manifest
		for i, r := range refs {
			switch {
			case isIndex:
				want.Children = append(want.Children, r.Digest)
			case i == 0 || !image.IsNonDistributable(r.MediaType):
				want.Blobs = append(want.Blobs, r.Digest)
			}
		}
		if subject != nil {
			want.Subject = subject.Digest
		}
		if !sameRefs(want, m) {
			t.Fatalf("Describe(%q, %q) = %+v, but clients fetch %+v", contentType, body, m, want)
		}
		var doc any = &image.Manifest{}
		if isIndex {
			doc = &image.Index{}
		}
		if err := json.Unmarshal(body, doc); err != nil {
			t.Fatal(err)
		}
		out, _ := json.Marshal(doc)
		if again, err := Describe(m.MediaType, out); err != nil || !sameRefs(again, m) {
			t.Fatalf("Describe(%q, %q) = %+v, but written out again as %s it is %+v, %v", contentType, body, m, out, again, err)
		}
		var shape struct{ Manifests, Config, Layers json.RawMessage }
		json.Unmarshal(body, &shape)
		if isIndex && (shape.Config != nil || shape.Layers != nil) || !isIndex && shape.Manifests != nil {
			t.Fatalf("Describe(%q, %q) accepted a %s that also reads as the other kind", contentType, body, m.MediaType)
		}
	})
}

func sameRefs(a, b meta.Manifest) bool {
	return slices.Equal(a.Blobs, b.Blobs) && slices.Equal(a.Children, b.Children) && a.Subject == b.Subject
}
