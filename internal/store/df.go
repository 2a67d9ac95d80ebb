package store

import (
	"context"
	"database/sql"

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

// Usage is what the store takes on disk, and how much sharing saves.
type Usage struct {
	Images      []ImageUsage
	Blobs       int   // blobs in the content store
	Size        int64 // bytes of those blobs: what the store takes
	Reclaimable int64 // bytes that pruning every unused image would free
	// Unshared is what the images would take if no blob were shared.
	Unshared int64
}

// DiskUsage measures the store.
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
	users := map[digest.Digest]int{}
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
		return rows.Err()
	})
	if err != nil {
		return u, err
	}
	live := map[digest.Digest]bool{}
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
	for d, n := range sizes {
		if !live[d] {
			u.Reclaimable += n
		}
	}
	return u, nil
}
