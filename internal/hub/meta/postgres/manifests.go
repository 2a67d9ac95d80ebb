package postgres

import (
	"context"
	"database/sql"

	"encoding/json"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/hub/meta"
)

// PutManifest stores m in repo and points tags at it: four statements
// (the repository, what m refers to, the immutable tag rules, then m with
// what it refers to and its tags), whatever m names, and one more for each
// tag an immutable rule covers.
func (s *Store) PutManifest(ctx context.Context, repo string, m meta.Manifest, tags []string) error {
	return s.tx(ctx, func(tx *txn) error {
		id, err := ensureRepo(ctx, tx, repo, m.CreatedAt)
		if err != nil {
			return err
		}
		blobs, children := strs(m.Blobs), strs(m.Children)
		if err := checkRefs(ctx, tx, id, blobs, children); err != nil {
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
		var distinct []string
		for _, t := range tags {
			if !slices.Contains(distinct, t) {
				distinct = append(distinct, t)
			}
		}
		_, err = tx.Exec(ctx, `WITH m AS (INSERT INTO manifests
				(repo_id, digest, media_type, content, artifact_type, annotations, subject, created_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
				ON CONFLICT (repo_id, digest) DO UPDATE SET media_type = excluded.media_type),
			mb AS (INSERT INTO manifest_blobs (repo_id, manifest, blob) SELECT $1, $2, unnest($9::text[]) ON CONFLICT DO NOTHING),
			mc AS (INSERT INTO manifest_children (repo_id, manifest, child) SELECT $1, $2, unnest($10::text[]) ON CONFLICT DO NOTHING)
			INSERT INTO tags (repo_id, name, digest, updated_at) SELECT $1, unnest($11::text[]), $2, $8
			ON CONFLICT (repo_id, name) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at`,
			id, m.Digest.String(), m.MediaType, m.Content, m.ArtifactType, ann, subject, unixNano(m.CreatedAt),
			blobs, children, distinct)
		return err
	})
}

func strs(ds []digest.Digest) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.String()
	}
	return out
}

// checkRefs returns a *meta.MissingError when the manifest refers to blobs
// or manifests the repository lacks, in one statement.
func checkRefs(ctx context.Context, tx *txn, repoID int64, blobs, children []string) error {
	if len(blobs)+len(children) == 0 {
		return nil
	}
	rows, err := tx.Query(ctx, `SELECT 0, x.d, x.n FROM unnest($2::text[]) WITH ORDINALITY AS x(d, n)
			WHERE NOT EXISTS (SELECT 1 FROM links l JOIN blobs b ON b.digest = l.digest
				WHERE l.repo_id = $1 AND l.digest = x.d AND b.state = $3)
		UNION ALL
		SELECT 1, x.d, x.n FROM unnest($4::text[]) WITH ORDINALITY AS x(d, n)
			WHERE NOT EXISTS (SELECT 1 FROM manifests WHERE repo_id = $1 AND digest = x.d)
		ORDER BY 1, 3`, repoID, blobs, meta.BlobLive, children)
	if err != nil {
		return err
	}
	defer rows.Close()
	var missing meta.MissingError
	for rows.Next() {
		var kind int
		var d string
		var n int64
		if err := rows.Scan(&kind, &d, &n); err != nil {
			return err
		}
		if kind == 0 {
			missing.Blobs = append(missing.Blobs, digest.Digest(d))
		} else {
			missing.Manifests = append(missing.Manifests, digest.Digest(d))
		}
	}
	if err := rows.Err(); err != nil {
		return err
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
func (s *Store) DeleteManifest(ctx context.Context, repo string, d digest.Digest, untaggedOnly bool) error {
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
		if err := checkImmutable(ctx, tx, id, repo, nil, "", d); err != nil {
			return err
		}
		if untaggedOnly {
			var tag string
			err := tx.QueryRow(ctx, `SELECT name FROM tags WHERE repo_id = $1 AND digest = $2 ORDER BY name LIMIT 1`, id, d.String()).Scan(&tag)
			if err == nil {
				return &meta.InUseError{Manifest: d, Tag: tag}
			}
			if !noRows(err) {
				return err
			}
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
		id, err := repoID(ctx, tx, repo)
		if err != nil {
			return notFound("tag %s in %s", tag, repo)
		}
		if err := checkImmutable(ctx, tx, id, repo, []string{tag}, "", ""); err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `DELETE FROM tags WHERE repo_id = $1 AND name = $2`, id, tag)
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
