package imagearchive

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-dev/strata/internal/image"
)

// found is one image read from an archive, checked as far as its metadata
// goes; its layers are verified as they are stored.
type found struct {
	config     []byte
	configDesc ocispec.Descriptor
	manifest   []byte             // OCI layouts only: kept as it is, so its digest stays
	manifestD  ocispec.Descriptor // OCI layouts only
	layers     []foundLayer
	tags       []reference.NamedTagged
}

type foundLayer struct {
	path   string             // docker archives: the layer tar's path
	desc   ocispec.Descriptor // OCI layouts: the blob
	diffID digest.Digest
}

// dockerEntry is one element of a docker archive's manifest.json.
type dockerEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// readArchive reads the images an archive holds, whichever format it is.
func readArchive(fsys files) ([]found, error) {
	switch {
	case fsys.exists("manifest.json"):
		return readDocker(fsys)
	case fsys.exists("index.json") && fsys.exists("oci-layout"):
		return readOCI(fsys)
	}
	return nil, invalid("not an image archive: it has neither manifest.json (docker save) nor index.json and oci-layout (OCI)")
}

func readDocker(fsys files) ([]found, error) {
	b, err := readSmall(fsys, "manifest.json")
	if err != nil {
		return nil, err
	}
	var entries []dockerEntry
	if err := json.Unmarshal(b, &entries); err != nil {
		return nil, invalid("manifest.json is not a docker archive manifest: %v", err)
	}
	if len(entries) == 0 {
		return nil, invalid("manifest.json lists no images")
	}
	var out []found
	for i, e := range entries {
		f, err := readDockerEntry(fsys, e)
		if err != nil {
			return nil, fmt.Errorf("manifest.json image %d: %w", i+1, err)
		}
		out = append(out, f)
	}
	return out, nil
}

func readDockerEntry(fsys files, e dockerEntry) (found, error) {
	cb, err := readSmall(fsys, e.Config)
	if err != nil {
		return found{}, err
	}
	f := found{config: cb, configDesc: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig,
		Digest: digest.FromBytes(cb), Size: int64(len(cb))}}
	// A config named by its digest (Docker's <hex>.json, blobs/sha256/<hex>) must have it.
	base := strings.TrimSuffix(path.Base(e.Config), ".json")
	if len(base) == 64 && base != f.configDesc.Digest.Encoded() {
		return found{}, invalid("config %s does not match its digest (it is %s): the archive is corrupt", e.Config, f.configDesc.Digest)
	}
	cfg, err := image.ParseConfig(cb)
	if err != nil {
		return found{}, err
	}
	if len(cfg.RootFS.DiffIDs) != len(e.Layers) {
		return found{}, invalid("config lists %d layers, manifest.json %d", len(cfg.RootFS.DiffIDs), len(e.Layers))
	}
	for i, p := range e.Layers {
		if !fsys.exists(p) {
			return found{}, invalid("layer %s is missing from the archive", p)
		}
		f.layers = append(f.layers, foundLayer{path: p, diffID: cfg.RootFS.DiffIDs[i]})
	}
	for _, t := range e.RepoTags {
		ref, err := image.ParseTag(t)
		if err != nil {
			return found{}, err
		}
		f.tags = append(f.tags, ref)
	}
	return f, nil
}

func blobPath(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", invalid("digest %q: %v", d, err)
	}
	return "blobs/" + d.Algorithm().String() + "/" + d.Encoded(), nil
}

// readBlob reads a small blob of an OCI layout and verifies it.
func readBlob(fsys files, desc ocispec.Descriptor) ([]byte, error) {
	p, err := blobPath(desc.Digest)
	if err != nil {
		return nil, err
	}
	b, err := readSmall(fsys, p)
	if err != nil {
		return nil, err
	}
	if got := desc.Digest.Algorithm().FromBytes(b); got != desc.Digest || (desc.Size > 0 && int64(len(b)) != desc.Size) {
		return nil, invalid("blob %s does not match its digest or size: the archive is corrupt", desc.Digest)
	}
	return b, nil
}

func readOCI(fsys files) ([]found, error) {
	b, err := readSmall(fsys, "index.json")
	if err != nil {
		return nil, err
	}
	idx, err := image.ParseIndex(ocispec.MediaTypeImageIndex, b)
	if err != nil {
		return nil, fmt.Errorf("index.json: %w", err)
	}
	var out []found
	for i, d := range idx.Manifests {
		f, err := readOCIEntry(fsys, d, 0)
		if err != nil {
			return nil, fmt.Errorf("index.json entry %d: %w", i+1, err)
		}
		if tag, ok := layoutName(d.Annotations); ok {
			f.tags = append(f.tags, tag)
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		return nil, invalid("index.json lists no images")
	}
	return out, nil
}

// layoutName is the name an index entry gives its image: containerd's full
// name annotation, else the OCI ref.name when it is a whole reference.
func layoutName(ann map[string]string) (reference.NamedTagged, bool) {
	for _, key := range []string{"io.containerd.image.name", ocispec.AnnotationRefName} {
		if v := ann[key]; v != "" {
			if key == ocispec.AnnotationRefName && !strings.ContainsAny(v, "/:") {
				continue // a bare tag names no repository
			}
			if ref, err := image.ParseTag(v); err == nil {
				return ref, true
			}
		}
	}
	return nil, false
}

func readOCIEntry(fsys files, d ocispec.Descriptor, depth int) (found, error) {
	if err := image.CheckDescriptor(d, "manifest"); err != nil {
		return found{}, err
	}
	b, err := readBlob(fsys, d)
	if err != nil {
		return found{}, err
	}
	if image.IsIndex(d.MediaType) {
		if depth > 2 {
			return found{}, invalid("indexes nest too deep")
		}
		idx, err := image.ParseIndex(d.MediaType, b)
		if err != nil {
			return found{}, err
		}
		sel, err := image.SelectManifest(idx, image.DefaultPlatform())
		if err != nil {
			return found{}, err
		}
		return readOCIEntry(fsys, sel, depth+1)
	}
	m, err := image.ParseManifest(d.MediaType, b)
	if err != nil {
		return found{}, err
	}
	cb, err := readBlob(fsys, m.Config)
	if err != nil {
		return found{}, fmt.Errorf("config: %w", err)
	}
	cfg, err := image.ParseConfig(cb)
	if err != nil {
		return found{}, err
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return found{}, invalid("config lists %d layers, the manifest %d", len(cfg.RootFS.DiffIDs), len(m.Layers))
	}
	f := found{config: cb, configDesc: m.Config, manifest: b, manifestD: ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: int64(len(b))}}
	for i, l := range m.Layers {
		p, err := blobPath(l.Digest)
		if err != nil {
			return found{}, err
		}
		if !fsys.exists(p) {
			return found{}, invalid("the manifest names layer %s, which is missing from the archive", l.Digest)
		}
		if !image.IsLayer(l.MediaType) {
			return found{}, invalid("layer %s has media type %q, which is not a layer", l.Digest, l.MediaType)
		}
		f.layers = append(f.layers, foundLayer{desc: l, diffID: cfg.RootFS.DiffIDs[i]})
	}
	return f, nil
}
