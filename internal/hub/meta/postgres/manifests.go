package postgres

import (
	"context"
	"database/sql"

	"encoding/json"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/hub/meta"
)

// PutManifest stores m in repo and points tags at it.
func (s *Store) PutManifest(ctx context.Context, repo string, m meta.Manifest, tags []string) error {
	return s.tx(ctx, func(tx *txn) error {
		id, err := ensureRepo(ctx, tx, repo, m.CreatedAt)
		if err != nil {
			return err
		}
		if err := checkRefs(ctx, tx, id, m); err != nil {
			return err
		}
		var ann, subject any
		if len(m.Annotations) > 0 {
			b, _ := json.Marshal(m.Annotations)
			ann = string(b)
		}
		if m.Subject != "" {
			subject = m.Subject.String()
		}
		_, err = tx.Exec(ctx, `INSERT INTO manifests
			(repo_id, digest, media_type, content, artifact_type, annotations, subject, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (repo_id, digest) DO UPDATE SET media_type = excluded.media_type`,
			id, m.Digest.String(), m.MediaType, m.Content, m.ArtifactType, ann, subject, unixNano(m.CreatedAt))
		if err != nil {
			return err
		}
		for _, b := range m.Blobs {
			if _, err := tx.Exec(ctx, `INSERT INTO manifest_blobs (repo_id, manifest, blob) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
				id, m.Digest.String(), b.String()); err != nil {
				return err
			}
		}
		for _, c := range m.Children {
			if _, err := tx.Exec(ctx, `INSERT INTO manifest_children (repo_id, manifest, child) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
				id, m.Digest.String(), c.String()); err != nil {
				return err
			}
		}
		for _, t := range tags {
			if _, err := tx.Exec(ctx, `INSERT INTO tags (repo_id, name, digest, updated_at) VALUES ($1, $2, $3, $4)
				ON CONFLICT (repo_id, name) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at`,
				id, t, m.Digest.String(), unixNano(m.CreatedAt)); err != nil {
				return err
			}
		}
		return nil
	})
}

// checkRefs returns a *meta.MissingError when m refers to what repo lacks.
func checkRefs(ctx context.Context, tx *txn, repoID int64, m meta.Manifest) error {
	var missing meta.MissingError
	for _, b := range m.Blobs {
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM links l JOIN blobs b ON b.digest = l.digest
			WHERE l.repo_id = $1 AND l.digest = $2 AND b.state = $3`, repoID, b.String(), meta.BlobLive).Scan(&one)
		if noRows(err) {
			missing.Blobs = append(missing.Blobs, b)
		} else if err != nil {
			return err
		}
	}
	for _, c := range m.Children {
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM manifests WHERE repo_id = $1 AND digest = $2`, repoID, c.String()).Scan(&one)
		if noRows(err) {
			missing.Manifests = append(missing.Manifests, c)
		} else if err != nil {
			return err
		}
	}
	if len(missing.Blobs)+len(missing.Manifests) > 0 {
		return &missing
	}
	return nil
}

// Manifest returns a manifest by tag or digest.
func (s *Store) Manifest(ctx context.Context, repo, reference string) (meta.Manifest, error) {
	var m meta.Manifest
	var d string
	var ann, subject sql.NullString
	var created int64
	query := `SELECT m.digest, m.media_type, m.content, m.artifact_type, m.annotations, m.subject, m.created_at
		FROM repositories r JOIN manifests m ON m.repo_id = r.id WHERE r.name = $1 AND m.digest = $2`
	if !strings.Contains(reference, ":") {
		query = `SELECT m.digest, m.media_type, m.content, m.artifact_type, m.annotations, m.subject, m.created_at
			FROM repositories r JOIN tags t ON t.repo_id = r.id JOIN manifests m ON m.repo_id = r.id AND m.digest = t.digest
			WHERE r.name = $1 AND t.name = $2`
	}
	err := s.db.QueryRow(ctx, query, repo, reference).
		Scan(&d, &m.MediaType, &m.Content, &m.ArtifactType, &ann, &subject, &created)
	if noRows(err) {
		return m, notFound("manifest %s in %s", reference, repo)
	}
	if err != nil {
		return m, err
	}
	m.Digest, m.Subject, m.CreatedAt = digest.Digest(d), digest.Digest(subject.String), fromNano(created)
	if ann.Valid {
		json.Unmarshal([]byte(ann.String), &m.Annotations)
	}
	return m, nil
}

// DeleteManifest removes a manifest and every tag pointing at it, unless
// an index of the repository names it.
func (s *Store) DeleteManifest(ctx context.Context, repo string, d digest.Digest) error {
	return s.tx(ctx, func(tx *txn) error {
		id, err := repoID(ctx, tx, repo)
		if err != nil {
			return err
		}
		var index string
		err = tx.QueryRow(ctx, `SELECT manifest FROM manifest_children WHERE repo_id = $1 AND child = $2
			ORDER BY manifest LIMIT 1`, id, d.String()).Scan(&index)
		if err == nil {
			return &meta.InUseError{Manifest: d, Index: digest.Digest(index)}
		}
		if !noRows(err) {
			return err
		}
		res, err := tx.Exec(ctx, `DELETE FROM manifests WHERE repo_id = $1 AND digest = $2`, id, d.String())
		if err != nil {
			return err
		}
		if n := res.RowsAffected(); n == 0 {
			return notFound("manifest %s in %s", d, repo)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM tags WHERE repo_id = $1 AND digest = $2`, id, d.String()); err != nil {
			return err
		}
		for _, table := range []string{"manifest_blobs", "manifest_children"} {
			if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE repo_id = $1 AND manifest = $2`, id, d.String()); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteTag removes one tag.
func (s *Store) DeleteTag(ctx context.Context, repo, tag string) error {
	return s.tx(ctx, func(tx *txn) error {
		res, err := tx.Exec(ctx, `DELETE FROM tags
			WHERE repo_id = (SELECT id FROM repositories WHERE name = $1) AND name = $2`, repo, tag)
		if err != nil {
			return err
		}
		if n := res.RowsAffected(); n == 0 {
			return notFound("tag %s in %s", tag, repo)
		}
		return nil
	})
}

// Referrers lists manifests of repo whose subject is d.
func (s *Store) Referrers(ctx context.Context, repo string, d digest.Digest, artifactType string) ([]meta.Descriptor, error) {
	query := `SELECT m.digest, m.media_type, length(m.content), m.artifact_type, m.annotations
		FROM repositories r JOIN manifests m ON m.repo_id = r.id WHERE r.name = $1 AND m.subject = $2`
	args := []any{repo, d.String()}
	if artifactType != "" {
		query += ` AND m.artifact_type = $3`
		args = append(args, artifactType)
	}
	rows, err := s.db.Query(ctx, query+` ORDER BY m.digest`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []meta.Descriptor{}
	for rows.Next() {
		var desc meta.Descriptor
		var dg string
		var ann sql.NullString
		if err := rows.Scan(&dg, &desc.MediaType, &desc.Size, &desc.ArtifactType, &ann); err != nil {
			return nil, err
		}
		desc.Digest = digest.Digest(dg)
		if ann.Valid {
			json.Unmarshal([]byte(ann.String), &desc.Annotations)
		}
		out = append(out, desc)
	}
	return out, rows.Err()
}
