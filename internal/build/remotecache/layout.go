package remotecache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-dev/strata/internal/errdefs"
)

// Layout is a cache in an OCI image layout directory, as BuildKit's
// type=local writes it: blobs/ALG/HEX, oci-layout, and index.json naming
// the cache's index by Tag ("latest" by default).
type Layout struct {
	Dir string
	Tag string
}

func (l Layout) tag() string {
	if l.Tag == "" {
		return "latest"
	}
	return l.Tag
}

func (l Layout) blobPath(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("cache blob %q: %v: %w", d, err, errdefs.ErrInvalidArgument)
	}
	return filepath.Join(l.Dir, "blobs", d.Algorithm().String(), d.Encoded()), nil
}

func (l Layout) HasBlob(ctx context.Context, d digest.Digest) (bool, error) {
	p, err := l.blobPath(d)
	if err != nil {
		return false, err
	}
	_, err = os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// WriteBlob writes the blob beside its place and renames it there once
// its digest checks.
func (l Layout) WriteBlob(ctx context.Context, desc ocispec.Descriptor, r io.ReaderAt) error {
	p, err := l.blobPath(desc.Digest)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	v := desc.Digest.Verifier()
	n, err := io.Copy(io.MultiWriter(tmp, v), io.NewSectionReader(r, 0, desc.Size))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if n != desc.Size || !v.Verified() {
		return fmt.Errorf("cache blob %s: what was read does not match it: %w", desc.Digest, errdefs.ErrInvalidArgument)
	}
	return os.Rename(tmp.Name(), p)
}

func (l Layout) ReadBlob(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	p, err := l.blobPath(desc.Digest)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("cache blob %s is missing from %s: %w", desc.Digest, l.Dir, errdefs.ErrNotFound)
	}
	return f, err
}

// WriteIndex stores the cache's index (or manifest) as a blob and names it
// in index.json under the tag, keeping what else index.json names.
func (l Layout) WriteIndex(ctx context.Context, mediaType string, b []byte) error {
	desc, err := putBytes(ctx, l, mediaType, b)
	if err != nil {
		return err
	}
	desc.Annotations = map[string]string{ocispec.AnnotationRefName: l.tag()}
	top := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}
	if old, err := os.ReadFile(filepath.Join(l.Dir, "index.json")); err == nil {
		json.Unmarshal(old, &top)
	}
	kept := top.Manifests[:0]
	for _, m := range top.Manifests {
		if m.Annotations[ocispec.AnnotationRefName] != l.tag() {
			kept = append(kept, m)
		}
	}
	top.Manifests = append(kept, desc)
	ib, err := json.Marshal(top)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(l.Dir, ocispec.ImageLayoutFile), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		return err
	}
	tmp := filepath.Join(l.Dir, ".index.json.tmp")
	if err := os.WriteFile(tmp, ib, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(l.Dir, "index.json"))
}

// ReadIndex reads the cache's index that index.json names by the tag.
func (l Layout) ReadIndex(ctx context.Context) ([]byte, error) {
	ib, err := os.ReadFile(filepath.Join(l.Dir, "index.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no cache in %s: %w", l.Dir, errdefs.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	var top ocispec.Index
	if err := json.Unmarshal(ib, &top); err != nil {
		return nil, fmt.Errorf("%s/index.json: %v: %w", l.Dir, err, errdefs.ErrInvalidArgument)
	}
	for _, m := range top.Manifests {
		if m.Annotations[ocispec.AnnotationRefName] == l.tag() {
			return readAll(ctx, l, m, maxIndex)
		}
	}
	return nil, fmt.Errorf("no cache tagged %s in %s: %w", l.tag(), l.Dir, errdefs.ErrNotFound)
}
