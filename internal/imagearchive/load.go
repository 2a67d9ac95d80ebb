package imagearchive

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/store"
)

// Loaded is an image that Load stored, with the names it was given.
type Loaded struct {
	Image store.Image
	Tags  []string // full names, as the archive gave them
}

// Load stores the images of the archive at path (a docker archive or an OCI
// layout; a directory or a tar, maybe compressed). It reads and checks every
// manifest and config first, then stores layers verified as they stream; if
// anything fails, the store is left as it was.
func Load(ctx context.Context, s *store.Store, path string) ([]Loaded, error) {
	tmp := filepath.Join(s.Root(), "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, err
	}
	fsys, done, err := openFiles(path, tmp)
	if err != nil {
		return nil, err
	}
	defer done()
	images, err := readArchive(fsys)
	if err != nil {
		return nil, err
	}
	news, err := storeBlobs(ctx, s, fsys, images)
	if err != nil {
		// Blobs stored before the failure are referenced by nothing: collect them.
		if _, gcErr := s.GC(ctx); gcErr != nil {
			return nil, fmt.Errorf("%w (and cleaning up after it: %v)", err, gcErr)
		}
		return nil, err
	}
	var out []Loaded
	for i, n := range news {
		img, err := s.Add(ctx, n)
		if err != nil {
			return out, err
		}
		l := Loaded{Image: img}
		for _, t := range images[i].tags {
			l.Tags = append(l.Tags, t.String())
		}
		out = append(out, l)
	}
	return out, nil
}

// storeBlobs writes every image's blobs, holding off GC meanwhile.
func storeBlobs(ctx context.Context, s *store.Store, fsys files, images []found) ([]store.NewImage, error) {
	release, err := s.Writing()
	if err != nil {
		return nil, err
	}
	defer release()
	seen := map[digest.Digest]store.Layer{}
	var news []store.NewImage
	for _, f := range images {
		var layers []store.Layer
		for _, fl := range f.layers {
			l, ok := seen[fl.diffID]
			if !ok {
				if l, err = storeLayer(ctx, s, fsys, fl); err != nil {
					return nil, err
				}
				seen[fl.diffID] = l
			}
			layers = append(layers, l)
		}
		if _, err := s.AddJSON(ctx, f.configDesc.MediaType, f.config); err != nil {
			return nil, err
		}
		var n store.NewImage
		if f.manifest != nil {
			if _, err := s.AddJSON(ctx, f.manifestD.MediaType, f.manifest); err != nil {
				return nil, err
			}
			n = store.NewImage{Manifest: f.manifestD, Layers: layers}
		} else if n, err = s.WriteManifest(ctx, f.configDesc, layers); err != nil {
			return nil, err
		}
		n.Tags = f.tags
		news = append(news, n)
	}
	return news, nil
}

// storeLayer stores one layer: an OCI blob as it is, a docker archive's tar
// gzipped once. A layer whose diffID is stored already is not read again,
// unless an OCI manifest names a blob of it that is not stored.
func storeLayer(ctx context.Context, s *store.Store, fsys files, fl foundLayer) (store.Layer, error) {
	if fl.path == "" { // OCI: the manifest names this exact blob
		p, _ := blobPath(fl.desc.Digest)
		r, _, err := fsys.open(p)
		if err != nil {
			return store.Layer{}, err
		}
		defer r.Close()
		return s.AddLayerBlob(ctx, r, fl.desc, fl.diffID)
	}
	if lb, err := s.LayerByDiffID(ctx, fl.diffID); err == nil {
		return store.Layer{Blob: lb.Blob, DiffID: lb.DiffID, TarSize: lb.TarSize, Size: lb.Size}, nil
	} else if !errdefs.IsNotFound(err) {
		return store.Layer{}, err
	}
	r, _, err := fsys.open(fl.path)
	if err != nil {
		return store.Layer{}, err
	}
	defer r.Close()
	tarStream := store.Uncompressed(r)
	defer tarStream.Close()
	l, err := s.AddLayerTar(ctx, tarStream, fl.diffID)
	if err != nil {
		return store.Layer{}, fmt.Errorf("layer %s: %w", fl.path, err)
	}
	return l, nil
}
