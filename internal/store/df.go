package store

import (
	"context"
	"database/sql"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/content"
)

// ImageUsage is the disk an image's blobs take.
type ImageUsage struct {
	Image
	Total  int64 // bytes of every blob it uses
	Shared int64 // of which other images use too
	Unique int64 // of which only it uses
	InUse  int   // how many users (containers) it has
}

// CacheUsage is the disk one build cache entry keeps.
type CacheUsage struct {
	Key      digest.Digest
	Layer    digest.Digest // the blob of the layer its step made, "" for a config-only step
	Size     int64         // bytes of that blob
	Shared   bool          // a stored image has the blob too
	Created  time.Time
	LastUsed time.Time
}

// Usage is what the store's blobs take on disk, whom for, and what each
// prune would free of them. Unpacked layers and containers are measured by
// package runtime/container.
type Usage struct {
	Images []ImageUsage
	Cache  []CacheUsage
	Blobs  int   // blobs in the content store
	Size   int64 // bytes of those blobs: what the store takes
	// Unshared is what the images would take if no blob were shared.
	Unshared int64
	// ImagesSize is the bytes of every blob but those only the build cache
	// keeps: the images' blobs, and any that nothing references.
	ImagesSize int64
	// ImagesReclaimable is what Prune(all) deletes: the blobs that neither
	// an image in use nor the build cache keeps.
	ImagesReclaimable int64
	// CacheSize is the bytes of the blobs that only the build cache keeps,
	// CacheBlobs how many they are.
	CacheSize  int64
	CacheBlobs int
	// CacheReclaimable is what PruneCache deletes: those blobs, and any
	// that nothing references.
	CacheReclaimable int64
}

// DiskUsage measures the store's blobs.
func (s *Store) DiskUsage(ctx context.Context) (Usage, error) {
	var u Usage
	sizes := map[digest.Digest]int64{}
	if err := s.content.Walk(ctx, func(i content.Info) error {
		sizes[i.Digest] = i.Size
		u.Size += i.Size
		u.Blobs++
		return nil
	}); err != nil {
		return u, err
	}
	images, err := s.Images(ctx)
	if err != nil {
		return u, err
	}
	blobsOf := map[digest.Digest][]digest.Digest{}
	users := map[digest.Digest]int{} // images using each blob
	err = s.readTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT DISTINCT m.image_id, b.blob FROM manifests m JOIN manifest_blobs b ON b.manifest = m.digest
			UNION SELECT image_id, digest FROM manifests`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id, blob digest.Digest
			if err := rows.Scan(&id, &blob); err != nil {
				return err
			}
			blobsOf[id] = append(blobsOf[id], blob)
			users[blob]++
		}
		if err := rows.Err(); err != nil {
			return err
		}
		u.Cache, err = cacheEntries(ctx, tx)
		return err
	})
	if err != nil {
		return u, err
	}
	live := map[digest.Digest]bool{} // what Prune(all) keeps
	for _, img := range images {
		iu := ImageUsage{Image: img}
		if s.InUse != nil {
			us, err := s.InUse(ctx, img.ID)
			if err != nil {
				return u, err
			}
			iu.InUse = len(us)
		}
		for _, b := range blobsOf[img.ID] {
			iu.Total += sizes[b]
			if users[b] > 1 {
				iu.Shared += sizes[b]
			} else {
				iu.Unique += sizes[b]
			}
			if iu.InUse > 0 {
				live[b] = true
			}
		}
		u.Unshared += iu.Total
		u.Images = append(u.Images, iu)
	}
	cached := map[digest.Digest]bool{}
	for i, e := range u.Cache {
		if e.Layer == "" {
			continue
		}
		u.Cache[i].Size, u.Cache[i].Shared = sizes[e.Layer], users[e.Layer] > 0
		if _, stored := sizes[e.Layer]; stored && !cached[e.Layer] && users[e.Layer] == 0 {
			u.CacheSize += sizes[e.Layer]
			u.CacheBlobs++
		}
		cached[e.Layer], live[e.Layer] = true, true
	}
	for d, n := range sizes {
		if !live[d] {
			u.ImagesReclaimable += n
		}
		if users[d] == 0 && !cached[d] {
			u.CacheReclaimable += n // garbage: any collection frees it
		}
	}
	u.ImagesSize = u.Size - u.CacheSize
	u.CacheReclaimable += u.CacheSize
	return u, nil
}

// cacheEntries lists the build cache, oldest first.
func cacheEntries(ctx context.Context, tx *sql.Tx) ([]CacheUsage, error) {
	rows, err := tx.QueryContext(ctx, `SELECT key, layer, created, last_used FROM build_cache ORDER BY created, key`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []CacheUsage
	for rows.Next() {
		var e CacheUsage
		var created, used int64
		if err := rows.Scan(&e.Key, &e.Layer, &created, &used); err != nil {
			return nil, err
		}
		e.Created, e.LastUsed = unixTime(created), unixTime(used)
		out = append(out, e)
	}
	return out, rows.Err()
}
