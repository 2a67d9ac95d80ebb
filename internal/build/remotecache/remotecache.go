// Package remotecache moves strata's build cache out of a store and into
// another (--cache-to, --cache-from), through a registry or a local
// directory, in BuildKit's cache manifest format: an
// "application/vnd.buildkit.cacheconfig.v0" blob that lists the layers
// (blob, parent, diffID, media type) and the records (a step's key, the
// layer it made, the step before it), held with the layer blobs by an OCI
// image index (image-manifest=false, BuildKit's default before v0.21 and
// for a directory) or, with image-manifest=true, by an OCI image manifest
// whose config it is (BuildKit's default for a registry since v0.21, and
// the form for registries that take only manifests in an index; strata's
// hub takes both).
// strata adds one blob per step, the image config after it
// ("application/vnd.strata.build.config.v1+json", annotated with the
// step's key), which BuildKit's importer passes over.
//
// The keys are strata's (see package build), not BuildKit's: the format is
// shared, a cache is not, so BuildKit does not reuse what strata exports
// nor strata what BuildKit does; what another strata exported, a fresh
// machine reuses whole.
package remotecache

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	cachetypes "github.com/moby/buildkit/cache/remotecache/v1/types"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/store"
)

// ConfigMediaType is the media type of a step's config in the index.
const ConfigMediaType = "application/vnd.strata.build.config.v1+json"

// KeyAnnotation names the step a config blob belongs to.
const KeyAnnotation = "dev.strata.build.cache-key"

// Target is where a cache goes or comes from: a repository of a registry,
// or an OCI layout directory.
type Target interface {
	// HasBlob reports whether the target holds the blob already.
	HasBlob(ctx context.Context, d digest.Digest) (bool, error)
	WriteBlob(ctx context.Context, desc ocispec.Descriptor, r io.ReaderAt) error
	ReadBlob(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error)
	// WriteIndex stores the cache's index (or manifest, as mediaType says)
	// under the target's tag.
	WriteIndex(ctx context.Context, mediaType string, b []byte) error
	// ReadIndex reads it; errdefs.ErrNotFound when there is none.
	ReadIndex(ctx context.Context) ([]byte, error)
}

// Record is one step of a build, as its cache holds it.
type Record struct {
	Key    digest.Digest
	Parent digest.Digest // the step before it in its stage; "" for the first
	Config []byte        // the image config after the step
	Layer  *store.Layer  // the layer it made; nil for none
}

// maxIndex and maxConfig bound what an import reads into memory.
const (
	maxIndex  = 4 << 20
	maxConfig = 64 << 20
)

// Export writes the records' layers, configs, the cache config and the
// index (a manifest with asManifest) to t; blobs t holds already are not
// sent again.
func Export(ctx context.Context, st *store.Store, t Target, records []Record, asManifest bool) error {
	var cfg cachetypes.CacheConfig
	idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}
	layerIndex := map[digest.Digest]int{}
	recordIndex := map[digest.Digest]int{}
	now := time.Now().UTC()
	for _, r := range records {
		if _, dup := recordIndex[r.Key]; dup {
			continue
		}
		rec := cachetypes.CacheRecord{Digest: r.Key}
		if r.Layer != nil {
			li, ok := layerIndex[r.Layer.Blob.Digest]
			if !ok {
				if err := sendBlob(ctx, st, t, r.Layer.Blob); err != nil {
					return err
				}
				li = len(cfg.Layers)
				layerIndex[r.Layer.Blob.Digest] = li
				cfg.Layers = append(cfg.Layers, cachetypes.CacheLayer{Blob: r.Layer.Blob.Digest, ParentIndex: -1,
					Annotations: &cachetypes.LayerAnnotations{MediaType: r.Layer.Blob.MediaType, DiffID: r.Layer.DiffID, Size: r.Layer.Blob.Size, CreatedAt: now}})
				idx.Manifests = append(idx.Manifests, r.Layer.Blob)
			}
			rec.Results = []cachetypes.CacheResult{{LayerIndex: li, CreatedAt: now}}
		}
		if p, ok := recordIndex[r.Parent]; ok {
			rec.Inputs = [][]cachetypes.CacheInput{{{LinkIndex: p}}}
		}
		recordIndex[r.Key] = len(cfg.Records)
		cfg.Records = append(cfg.Records, rec)
		desc, err := putBytes(ctx, t, ConfigMediaType, r.Config)
		if err != nil {
			return err
		}
		desc.Annotations = map[string]string{KeyAnnotation: r.Key.String()}
		idx.Manifests = append(idx.Manifests, desc)
	}
	cb, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	desc, err := putBytes(ctx, t, cachetypes.CacheConfigMediaTypeV0, cb)
	if err != nil {
		return err
	}
	if asManifest {
		m := ocispec.Manifest{Versioned: idx.Versioned, MediaType: ocispec.MediaTypeImageManifest, Config: desc, Layers: idx.Manifests}
		mb, err := json.Marshal(m)
		if err != nil {
			return err
		}
		return t.WriteIndex(ctx, m.MediaType, mb)
	}
	idx.Manifests = append(idx.Manifests, desc)
	ib, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	return t.WriteIndex(ctx, idx.MediaType, ib)
}

// sendBlob copies a stored blob to t unless it is there.
func sendBlob(ctx context.Context, st *store.Store, t Target, desc ocispec.Descriptor) error {
	if ok, err := t.HasBlob(ctx, desc.Digest); err != nil || ok {
		return err
	}
	ra, err := st.Content().ReaderAt(ctx, desc)
	if err != nil {
		return fmt.Errorf("cache layer %s: %w", desc.Digest, err)
	}
	defer ra.Close()
	return t.WriteBlob(ctx, desc, ra)
}

func putBytes(ctx context.Context, t Target, mediaType string, b []byte) (ocispec.Descriptor, error) {
	desc := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
	if ok, err := t.HasBlob(ctx, desc.Digest); err != nil || ok {
		return desc, err
	}
	return desc, t.WriteBlob(ctx, desc, bytes.NewReader(b))
}

// Import reads the cache in t into st: each layer blob it lacks
// (verified against its digest and diffID as it streams), then each step's
// record, which the next build on st finds as if it had run the step. It
// returns how many steps it imported; a target without a cache is not an
// error (0), as BuildKit's --cache-from goes on without one.
func Import(ctx context.Context, st *store.Store, t Target) (int, error) {
	ib, err := t.ReadIndex(ctx)
	if errdefs.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var idx struct {
		ocispec.Index
		Config *ocispec.Descriptor  `json:"config"` // the manifest form
		Layers []ocispec.Descriptor `json:"layers"`
	}
	if err := json.Unmarshal(ib, &idx); err != nil {
		return 0, fmt.Errorf("cache index: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if idx.Config != nil {
		idx.Manifests = append(idx.Layers, *idx.Config)
	}
	var cfg cachetypes.CacheConfig
	configs := map[digest.Digest]ocispec.Descriptor{}
	blobs := map[digest.Digest]ocispec.Descriptor{}
	for _, d := range idx.Manifests {
		switch d.MediaType {
		case cachetypes.CacheConfigMediaTypeV0:
			if err := readJSON(ctx, t, d, maxIndex, &cfg); err != nil {
				return 0, err
			}
		case ConfigMediaType:
			k, err := digest.Parse(d.Annotations[KeyAnnotation])
			if err != nil {
				return 0, fmt.Errorf("cache index: a config without a valid %s: %w", KeyAnnotation, errdefs.ErrInvalidArgument)
			}
			configs[k] = d
		default:
			blobs[d.Digest] = d
		}
	}
	release, err := st.Writing()
	if err != nil {
		return 0, err
	}
	defer release()
	n := 0
	for _, rec := range cfg.Records {
		d, ok := configs[rec.Digest]
		if !ok {
			continue // a record of BuildKit's or another tool's: nothing strata can use
		}
		e := store.CacheEntry{Key: rec.Digest}
		if e.Config, err = readAll(ctx, t, d, maxConfig); err != nil {
			return n, err
		}
		if len(rec.Results) > 0 {
			if e.Layer, err = importLayer(ctx, st, t, cfg, blobs, rec.Results[0].LayerIndex); err != nil {
				return n, err
			}
		}
		if err := st.PutCache(ctx, e); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// importLayer stores layer i of cfg unless st has it.
func importLayer(ctx context.Context, st *store.Store, t Target, cfg cachetypes.CacheConfig, blobs map[digest.Digest]ocispec.Descriptor, i int) (*store.Layer, error) {
	if i < 0 || i >= len(cfg.Layers) || cfg.Layers[i].Annotations == nil {
		return nil, fmt.Errorf("cache config: layer %d is not described: %w", i, errdefs.ErrInvalidArgument)
	}
	l := cfg.Layers[i]
	desc, ok := blobs[l.Blob]
	if !ok {
		desc = ocispec.Descriptor{Digest: l.Blob, Size: l.Annotations.Size, MediaType: l.Annotations.MediaType}
	}
	if known, err := st.LayerByDiffID(ctx, l.Annotations.DiffID); err == nil && known.Blob.Digest == desc.Digest {
		return &store.Layer{Blob: known.Blob, DiffID: known.DiffID, TarSize: known.TarSize, Size: known.Size}, nil
	}
	rc, err := t.ReadBlob(ctx, desc)
	if err != nil {
		return nil, fmt.Errorf("cache layer %s: %w", desc.Digest, err)
	}
	defer rc.Close()
	layer, err := st.AddLayerBlob(ctx, rc, desc, l.Annotations.DiffID)
	if err != nil {
		return nil, fmt.Errorf("cache layer %s: %w", desc.Digest, err)
	}
	return &layer, nil
}

func readAll(ctx context.Context, t Target, d ocispec.Descriptor, limit int64) ([]byte, error) {
	if d.Size > limit {
		return nil, fmt.Errorf("cache blob %s is %d bytes, over %d: %w", d.Digest, d.Size, limit, errdefs.ErrInvalidArgument)
	}
	rc, err := t.ReadBlob(ctx, d)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) != d.Size || digest.FromBytes(b) != d.Digest {
		return nil, fmt.Errorf("cache blob %s: its content does not match its digest: %w", d.Digest, errdefs.ErrInvalidArgument)
	}
	return b, nil
}

func readJSON(ctx context.Context, t Target, d ocispec.Descriptor, limit int64, v any) error {
	b, err := readAll(ctx, t, d, limit)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("cache blob %s: %v: %w", d.Digest, err, errdefs.ErrInvalidArgument)
	}
	return nil
}
