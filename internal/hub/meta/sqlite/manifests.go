package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/hub/meta"
)

// PutManifest stores m in repo and points tags at it.
func (s *Store) PutManifest(ctx context.Context, repo string, m meta.Manifest, tags []string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		id, err := ensureRepo(ctx, tx, repo, m.CreatedAt)
		if err != nil {
			return err
		}
		if err := checkRefs(ctx, tx, id, m); err != nil {
			return err
		}
		if err := checkImmutable(ctx, tx, id, repo, tags, m.Digest, ""); err != nil {
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
		_, err = tx.ExecContext(ctx, `INSERT INTO manifests
			(repo_id, digest, media_type, content, artifact_type, annotations, subject, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (repo_id, digest) DO UPDATE SET media_type = excluded.media_type`,
			id, m.Digest.String(), m.MediaType, m.Content, m.ArtifactType, ann, subject, unixNano(m.CreatedAt))
		if err != nil {
			return err
		}
		for _, b := range m.Blobs {
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO manifest_blobs (repo_id, manifest, blob) VALUES (?, ?, ?)`,
				id, m.Digest.String(), b.String()); err != nil {
				return err
			}
		}
		for _, c := range m.Children {
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO manifest_children (repo_id, manifest, child) VALUES (?, ?, ?)`,
				id, m.Digest.String(), c.String()); err != nil {
				return err
			}
		}
		for _, t := range tags {
			if _, err := tx.ExecContext(ctx, `INSERT INTO tags (repo_id, name, digest, updated_at) VALUES (?, ?, ?, ?)
				ON CONFLICT (repo_id, name) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at`,
				id, t, m.Digest.String(), unixNano(m.CreatedAt)); err != nil {
				return err
			}
		}
		return nil
	})
}

// checkRefs returns a *meta.MissingError when m refers to what repo lacks.
func checkRefs(ctx context.Context, tx *sql.Tx, repoID int64, m meta.Manifest) error {
	var missing meta.MissingError
	for _, b := range m.Blobs {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM links l JOIN blobs b ON b.digest = l.digest
			WHERE l.repo_id = ? AND l.digest = ? AND b.state = ?`, repoID, b.String(), meta.BlobLive).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			missing.Blobs = append(missing.Blobs, b)
		} else if err != nil {
			return err
		}
	}
	for _, c := range m.Children {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM manifests WHERE repo_id = ? AND digest = ?`, repoID, c.String()).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
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
		FROM repositories r JOIN manifests m ON m.repo_id = r.id WHERE r.name = ? AND m.digest = ?`
	if !strings.Contains(reference, ":") {
		query = `SELECT m.digest, m.media_type, m.content, m.artifact_type, m.annotations, m.subject, m.created_at
			FROM repositories r JOIN tags t ON t.repo_id = r.id JOIN manifests m ON m.repo_id = r.id AND m.digest = t.digest
			WHERE r.name = ? AND t.name = ?`
	}
	err := s.r.QueryRowContext(ctx, query, repo, reference).
		Scan(&d, &m.MediaType, &m.Content, &m.ArtifactType, &ann, &subject, &created)
	if errors.Is(err, sql.ErrNoRows) {
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
func (s *Store) DeleteManifest(ctx context.Context, repo string, d digest.Digest, untaggedOnly bool) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		id, err := repoID(ctx, tx, repo)
		if err != nil {
			return err
		}
		var index string
		err = tx.QueryRowContext(ctx, `SELECT manifest FROM manifest_children WHERE repo_id = ? AND child = ?
			ORDER BY manifest LIMIT 1`, id, d.String()).Scan(&index)
		if err == nil {
			return &meta.InUseError{Manifest: d, Index: digest.Digest(index)}
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if err := checkImmutable(ctx, tx, id, repo, nil, "", d); err != nil {
			return err
		}
		if untaggedOnly {
			var tag string
			err := tx.QueryRowContext(ctx, `SELECT name FROM tags WHERE repo_id = ? AND digest = ? ORDER BY name LIMIT 1`, id, d.String()).Scan(&tag)
			if err == nil {
				return &meta.InUseError{Manifest: d, Tag: tag}
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM manifests WHERE repo_id = ? AND digest = ?`, id, d.String())
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("manifest %s in %s", d, repo)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM tags WHERE repo_id = ? AND digest = ?`, id, d.String()); err != nil {
			return err
		}
		for _, table := range []string{"manifest_blobs", "manifest_children"} {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE repo_id = ? AND manifest = ?`, id, d.String()); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteTag removes one tag.
func (s *Store) DeleteTag(ctx context.Context, repo, tag string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		id, err := repoID(ctx, tx, repo)
		if err != nil {
			return notFound("tag %s in %s", tag, repo)
		}
		if err := checkImmutable(ctx, tx, id, repo, []string{tag}, "", ""); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM tags WHERE repo_id = ? AND name = ?`, id, tag)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("tag %s in %s", tag, repo)
		}
		return nil
	})
}

// Referrers lists manifests of repo whose subject is d.
func (s *Store) Referrers(ctx context.Context, repo string, d digest.Digest, artifactType string) ([]meta.Descriptor, error) {
	query := `SELECT m.digest, m.media_type, length(m.content), m.artifact_type, m.annotations
		FROM repositories r JOIN manifests m ON m.repo_id = r.id WHERE r.name = ? AND m.subject = ?`
	args := []any{repo, d.String()}
	if artifactType != "" {
		query += ` AND m.artifact_type = ?`
		args = append(args, artifactType)
	}
	rows, err := s.r.QueryContext(ctx, query+` ORDER BY m.digest`, args...)
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
