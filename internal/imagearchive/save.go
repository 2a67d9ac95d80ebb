package imagearchive

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-dev/strata/internal/content"
	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/image"
	"github.com/strata-dev/strata/internal/store"
)

// Format is a way to write images as files.
type Format string

const (
	DockerArchive Format = "docker-archive" // a tar as `docker save` writes it
	DockerDir     Format = "docker-dir"     // the same, unpacked in a directory
	OCIArchive    Format = "oci-archive"    // an OCI image layout in a tar
	OCIDir        Format = "oci-dir"        // an OCI image layout directory
)

// Formats lists every Format, for help texts.
var Formats = []Format{DockerArchive, DockerDir, OCIArchive, OCIDir}

// ParseFormat checks a format name.
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats {
		if string(f) == s {
			return f, nil
		}
	}
	return "", fmt.Errorf("format %q: want docker-archive, docker-dir, oci-archive or oci-dir: %w", s, errdefs.ErrInvalidArgument)
}

// IsDir reports whether the format writes a directory rather than a stream.
func (f Format) IsDir() bool { return f == DockerDir || f == OCIDir }

// sink receives an archive's files, in a tar or a directory.
type sink interface {
	file(name string, size int64, r io.Reader) error
	close() error
}

type tarSink struct{ tw *tar.Writer }

func (t tarSink) file(name string, size int64, r io.Reader) error {
	// Fixed modes and times: the same images make the same archive.
	if err := t.tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, Typeflag: tar.TypeReg,
		ModTime: time.Unix(0, 0), Format: tar.FormatPAX}); err != nil {
		return err
	}
	n, err := io.Copy(t.tw, r)
	if err == nil && n != size {
		err = fmt.Errorf("%s: wrote %d bytes, expected %d", name, n, size)
	}
	return err
}

func (t tarSink) close() error { return t.tw.Close() }

type dirSink struct{ dir string }

func (d dirSink) file(name string, size int64, r io.Reader) error {
	p := filepath.Join(d.dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	n, err := io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != size {
		err = fmt.Errorf("%s: wrote %d bytes, expected %d", name, n, size)
	}
	return err
}

func (d dirSink) close() error { return nil }

// Selected is an image to save and the tags to save it under.
type Selected struct {
	Image store.Image
	Tags  []reference.NamedTagged
}

// Select resolves names as `docker save` does: a tag saves the image under
// that tag, an image ID saves it untagged; an image named twice is saved once.
func Select(ctx context.Context, s *store.Store, names []string) ([]Selected, error) {
	var out []Selected
	index := map[digest.Digest]int{}
	for _, n := range names {
		img, err := s.Resolve(ctx, n)
		if err != nil {
			return nil, err
		}
		i, ok := index[img.ID]
		if !ok {
			i = len(out)
			index[img.ID] = i
			out = append(out, Selected{Image: img})
		}
		if ref, err := image.ParseTag(n); err == nil {
			for _, t := range img.Tags {
				if t == ref.String() {
					out[i].Tags = append(out[i].Tags, ref)
				}
			}
		}
	}
	return out, nil
}

// Save writes images in format f, to w for an archive format or into the
// directory dir (created when missing) for a directory format.
func Save(ctx context.Context, s *store.Store, images []Selected, f Format, w io.Writer, dir string) error {
	var out sink
	if f.IsDir() {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		out = dirSink{dir}
	} else {
		out = tarSink{tar.NewWriter(w)}
	}
	var err error
	if f == DockerArchive || f == DockerDir {
		err = writeDocker(ctx, s, images, out)
	} else {
		err = writeOCI(ctx, s, images, out)
	}
	if err != nil {
		return err
	}
	return out.close()
}

func writeJSON(out sink, name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return out.file(name, int64(len(b)), bytes.NewReader(b))
}

// writeDocker writes Docker's archive format: <config hex>.json, one
// uncompressed <diffID hex>.tar per layer, manifest.json and repositories.
func writeDocker(ctx context.Context, s *store.Store, images []Selected, out sink) error {
	var manifest []dockerEntry
	repositories := map[string]map[string]string{}
	written := map[string]bool{}
	for _, sel := range images {
		cb, err := s.Config(ctx, sel.Image)
		if err != nil {
			return err
		}
		e := dockerEntry{Config: sel.Image.ID.Encoded() + ".json", RepoTags: []string{}}
		if err := out.file(e.Config, int64(len(cb)), bytes.NewReader(cb)); err != nil {
			return err
		}
		layers, err := s.ImageLayers(ctx, sel.Image)
		if err != nil {
			return err
		}
		for _, l := range layers {
			name := l.DiffID.Encoded() + ".tar"
			e.Layers = append(e.Layers, name)
			if written[name] {
				continue
			}
			written[name] = true
			if err := writeLayerTar(ctx, s, l, name, out); err != nil {
				return err
			}
		}
		for _, t := range sel.Tags {
			// Full names: docker shows them familiar, and podman and
			// skopeo would put a familiar name under localhost/.
			e.RepoTags = append(e.RepoTags, t.String())
			repo := image.FamiliarName(t)
			if repositories[repo] == nil {
				repositories[repo] = map[string]string{}
			}
			repositories[repo][t.Tag()] = layers[len(layers)-1].DiffID.Encoded()
		}
		manifest = append(manifest, e)
	}
	if err := writeJSON(out, "manifest.json", manifest); err != nil {
		return err
	}
	return writeJSON(out, "repositories", repositories)
}

// writeLayerTar writes a layer uncompressed, as Docker's format has it,
// verifying its diffID on the way.
func writeLayerTar(ctx context.Context, s *store.Store, l store.LayerBlob, name string, out sink) error {
	ra, err := s.Content().ReaderAt(ctx, l.Blob)
	if err != nil {
		return err
	}
	defer ra.Close()
	tarStream := store.Uncompressed(content.NewReader(ra))
	defer tarStream.Close()
	v := l.DiffID.Algorithm().Digester()
	if err := out.file(name, l.TarSize, io.TeeReader(tarStream, v.Hash())); err != nil {
		return fmt.Errorf("layer %s: %w", l.DiffID, err)
	}
	if v.Digest() != l.DiffID {
		return fmt.Errorf("stored layer %s has diffID %s: the store is corrupt: %w", l.DiffID, v.Digest(), errdefs.ErrConflict)
	}
	return nil
}

// writeOCI writes an OCI image layout: blobs as stored, and index.json with
// one entry per tag (named as containerd and Docker do), or one untagged.
func writeOCI(ctx context.Context, s *store.Store, images []Selected, out sink) error {
	if err := writeJSON(out, ocispec.ImageLayoutFile, ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion}); err != nil {
		return err
	}
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{}}
	idx.SchemaVersion = 2
	written := map[digest.Digest]bool{}
	for _, sel := range images {
		layers, err := s.ImageLayers(ctx, sel.Image)
		if err != nil {
			return err
		}
		blobs := []ocispec.Descriptor{sel.Image.Manifest, {Digest: sel.Image.ID}}
		for _, l := range layers {
			blobs = append(blobs, l.Blob)
		}
		for _, b := range blobs {
			if written[b.Digest] {
				continue
			}
			written[b.Digest] = true
			if err := copyBlob(ctx, s, b.Digest, out); err != nil {
				return err
			}
		}
		desc := sel.Image.Manifest
		if len(sel.Tags) == 0 {
			idx.Manifests = append(idx.Manifests, desc)
		}
		for _, t := range sel.Tags {
			d := desc
			d.Annotations = map[string]string{"io.containerd.image.name": t.String(), ocispec.AnnotationRefName: t.Tag()}
			idx.Manifests = append(idx.Manifests, d)
		}
	}
	sort.SliceStable(idx.Manifests, func(i, j int) bool {
		return idx.Manifests[i].Annotations["io.containerd.image.name"] < idx.Manifests[j].Annotations["io.containerd.image.name"]
	})
	return writeJSON(out, ocispec.ImageIndexFile, idx)
}

func copyBlob(ctx context.Context, s *store.Store, d digest.Digest, out sink) error {
	ra, err := s.Content().ReaderAt(ctx, ocispec.Descriptor{Digest: d})
	if err != nil {
		return err
	}
	defer ra.Close()
	p, _ := blobPath(d)
	return out.file(p, ra.Size(), content.NewReader(ra))
}
