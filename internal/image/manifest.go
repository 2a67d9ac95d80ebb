package image

import (
	"bytes"
	_ "crypto/sha256" // registers the digest algorithms go-digest checks for
	_ "crypto/sha512"
	"encoding/json"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-dev/strata/internal/errdefs"
)

// MaxManifestSize bounds what strata reads as a manifest, index or config, on
// both sides of the wire. Docker's and distribution's limit is 4 MiB.
const MaxManifestSize = 4 << 20

// Descriptor points at content: media type, digest and size (plus optional
// platform, annotations, artifactType).
type Descriptor = ocispec.Descriptor

// Platform names an OS and CPU.
type Platform = ocispec.Platform

// Manifest is a single image or artifact: config plus layers. OCI and Docker
// schema2 manifests share this JSON shape.
type Manifest = ocispec.Manifest

// Index lists manifests, typically one per platform. OCI indexes and Docker
// manifest lists share this JSON shape.
type Index = ocispec.Index

// probe reads just enough of a document to tell what it is.
type probe struct {
	SchemaVersion *int            `json:"schemaVersion"`
	MediaType     string          `json:"mediaType"`
	Config        json.RawMessage `json:"config"`
	Layers        json.RawMessage `json:"layers"`
	Manifests     json.RawMessage `json:"manifests"`
	FSLayers      json.RawMessage `json:"fsLayers"`
}

// DetectMediaType guesses the media type of a manifest-like document from its
// body: its own mediaType field, else its shape. It returns "" when b is not
// a manifest or index at all.
func DetectMediaType(b []byte) string {
	var p probe
	if json.Unmarshal(b, &p) != nil {
		return ""
	}
	switch {
	case p.MediaType != "":
		return p.MediaType
	case p.FSLayers != nil:
		return MediaTypeDockerSchema1Signed
	case p.Manifests != nil:
		return ocispec.MediaTypeImageIndex
	case p.Config != nil:
		return ocispec.MediaTypeImageManifest
	}
	return ""
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), errdefs.ErrInvalidArgument)
}

// checkEnvelope decodes b strictly enough to refuse what no client should
// send: not JSON, a schemaVersion other than 2, a mediaType field that
// contradicts the one the document was sent as, and a document that
// reads as the other kind too (a manifest with "manifests", an index with
// "config" or "layers": CVE-2021-41190, refused as containerd and
// distribution refuse it), since two clients could then see two images.
func checkEnvelope(mediaType string, b []byte, index bool) error {
	if len(b) > MaxManifestSize {
		return invalid("manifest is %d bytes, more than the %d allowed", len(b), MaxManifestSize)
	}
	var p probe
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&p); err != nil {
		return invalid("manifest is not valid JSON: %v", err)
	}
	if p.SchemaVersion == nil || *p.SchemaVersion != 2 {
		return invalid("manifest schemaVersion must be 2")
	}
	if p.MediaType != "" && mediaType != "" && p.MediaType != mediaType {
		return invalid("manifest says mediaType %q but was given as %q", p.MediaType, mediaType)
	}
	if index && (p.Config != nil || p.Layers != nil) {
		return invalid("an index must not have \"config\" or \"layers\": it would also read as an image manifest")
	}
	if !index && p.Manifests != nil {
		return invalid("an image manifest must not have \"manifests\": it would also read as an index")
	}
	return nil
}

// ParseManifest decodes and checks an image manifest given as mediaType.
func ParseManifest(mediaType string, b []byte) (*Manifest, error) {
	if err := checkEnvelope(mediaType, b, false); err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, invalid("manifest: %v", err)
	}
	if err := CheckDescriptor(m.Config, "config"); err != nil {
		return nil, err
	}
	for i, l := range m.Layers {
		if err := CheckDescriptor(l, fmt.Sprintf("layer %d", i)); err != nil {
			return nil, err
		}
	}
	if m.Subject != nil {
		if err := CheckDescriptor(*m.Subject, "subject"); err != nil {
			return nil, err
		}
	}
	return &m, nil
}

// ParseIndex decodes and checks an index or manifest list given as mediaType.
func ParseIndex(mediaType string, b []byte) (*Index, error) {
	if err := checkEnvelope(mediaType, b, true); err != nil {
		return nil, err
	}
	var idx Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, invalid("index: %v", err)
	}
	for i, d := range idx.Manifests {
		if err := CheckDescriptor(d, fmt.Sprintf("manifest %d", i)); err != nil {
			return nil, err
		}
	}
	if idx.Subject != nil {
		if err := CheckDescriptor(*idx.Subject, "subject"); err != nil {
			return nil, err
		}
	}
	return &idx, nil
}

// CheckDescriptor refuses a descriptor with a malformed digest or a negative
// size; what names it in the error.
func CheckDescriptor(d Descriptor, what string) error {
	if err := d.Digest.Validate(); err != nil {
		return invalid("%s: digest %q: %v", what, d.Digest, err)
	}
	if d.Size < 0 {
		return invalid("%s: negative size %d", what, d.Size)
	}
	if d.MediaType == "" {
		return invalid("%s: missing mediaType", what)
	}
	return nil
}

// References lists what a manifest or index document points at: for a
// manifest its config and layers, for an index its manifests; plus the
// subject of either. The subject is returned apart because it need not exist.
func References(mediaType string, b []byte) (refs []Descriptor, subject *Descriptor, err error) {
	switch {
	case IsIndex(mediaType):
		idx, err := ParseIndex(mediaType, b)
		if err != nil {
			return nil, nil, err
		}
		return idx.Manifests, idx.Subject, nil
	case IsManifest(mediaType):
		m, err := ParseManifest(mediaType, b)
		if err != nil {
			return nil, nil, err
		}
		return append([]Descriptor{m.Config}, m.Layers...), m.Subject, nil
	case mediaType == MediaTypeDockerSchema1Signed || mediaType == "application/vnd.docker.distribution.manifest.v1+json":
		return nil, nil, invalid("Docker schema1 manifests are not supported; push the image again with a current client")
	}
	return nil, nil, invalid("unsupported manifest media type %q", mediaType)
}

// Digest of a manifest body, as registries and clients compute it.
func Digest(b []byte) digest.Digest { return digest.FromBytes(b) }
