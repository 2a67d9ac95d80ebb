package postgres

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/hub/meta"
)

// PutManifest stores m in repo and points tags at it.
func (s *Store) PutManifest(ctx context.Context, repo string, m meta.Manifest, tags []string) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		id, err := ensureRepo(ctx, tx, repo, m.CreatedAt)
		if err != nil {
			return err
		}
		if err := checkRefs(ctx, tx, id, m); err != nil {
			return err
		}
		var ann, subject *string
		if len(m.Annotations) > 0 {
			b, _ := json.Marshal(m.Annotations)
			a := string(b)
			ann = &a
		}
		if m.Subject != "" {
			sub := m.Subject.String()
			subject = &sub
		}
		batch := &pgx.Batch{}
		batch.Queue(`INSERT INTO manifests
			(repo_id, digest, media_type, content, artifact_type, annotations, subject, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (repo_id, digest) DO UPDATE SET media_type = excluded.media_type`,
			id, m.Digest.String(), m.MediaType, m.Content, m.ArtifactType, ann, subject, unixNano(m.CreatedAt))
		for _, b := range m.Blobs {
			batch.Queue(`INSERT INTO manifest_blobs (repo_id, manifest, blob) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
				id, m.Digest.String(), b.String())
		}
		for _, t := range tags {
			batch.Queue(`INSERT INTO tags (repo_id, name, digest, updated_at) VALUES ($1, $2, $3, $4)
				ON CONFLICT (repo_id, name) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at`,
				id, t, m.Digest.String(), unixNano(m.CreatedAt))
		}
		return tx.SendBatch(ctx, batch).Close()
	})
}

// checkRefs returns a *meta.MissingError when m refers to what repo lacks.
func checkRefs(ctx context.Context, tx pgx.Tx, repoID int64, m meta.Manifest) error {
	var missing meta.MissingError
	var err error
	if len(m.Blobs) > 0 {
		missing.Blobs, err = absent(ctx, tx, m.Blobs, `SELECT l.digest FROM links l JOIN blobs b ON b.digest = l.digest
			WHERE l.repo_id = $1 AND l.digest = ANY($2) AND b.state = 2`, repoID)
		if err != nil {
			return err
		}
	}
	if len(m.Children) > 0 {
		missing.Manifests, err = absent(ctx, tx, m.Children, `SELECT digest FROM manifests WHERE repo_id = $1 AND digest = ANY($2)`, repoID)
		if err != nil {
			return err
		}
	}
	if len(missing.Blobs)+len(missing.Manifests) > 0 {
		return &missing
	}
	return nil
}

// absent returns the digests of want that query (given repoID and want)
// does not return, in want's order.
func absent(ctx context.Context, tx pgx.Tx, want []digest.Digest, query string, repoID int64) ([]digest.Digest, error) {
	ds := make([]string, len(want))
	for i, d := range want {
		ds[i] = d.String()
	}
	found, err := collectStrings(ctx, tx, query, repoID, ds)
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, f := range found {
		have[f] = true
	}
	var out []digest.Digest
	for _, d := range want {
		if !have[d.String()] {
			out = append(out, d)
		}
	}
	return out, nil
}

// Manifest returns a manifest by tag or digest.
func (s *Store) Manifest(ctx context.Context, repo, reference string) (meta.Manifest, error) {
	var m meta.Manifest
	var d string
	var ann, subject *string
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
		return m, classify(err)
	}
	m.Digest, m.CreatedAt = digest.Digest(d), fromNano(created)
	if subject != nil {
		m.Subject = digest.Digest(*subject)
	}
	if ann != nil {
		json.Unmarshal([]byte(*ann), &m.Annotations)
	}
	return m, nil
}

// DeleteManifest removes a manifest and every tag pointing at it.
func (s *Store) DeleteManifest(ctx context.Context, repo string, d digest.Digest) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		id, err := repoID(ctx, tx, repo)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM manifests WHERE repo_id = $1 AND digest = $2`, id, d.String())
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound("manifest %s in %s", d, repo)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM tags WHERE repo_id = $1 AND digest = $2`, id, d.String()); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM manifest_blobs WHERE repo_id = $1 AND manifest = $2`, id, d.String())
		return err
	})
}

// DeleteTag removes one tag.
func (s *Store) DeleteTag(ctx context.Context, repo, tag string) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM tags
			WHERE repo_id = (SELECT id FROM repositories WHERE name = $1) AND name = $2`, repo, tag)
		if err != nil {
			return err
		}
		if res.RowsAffected() == 0 {
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
		return nil, classify(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (meta.Descriptor, error) {
		var desc meta.Descriptor
		var dg string
		var ann *string
		err := row.Scan(&dg, &desc.MediaType, &desc.Size, &desc.ArtifactType, &ann)
		desc.Digest = digest.Digest(dg)
		if ann != nil {
			json.Unmarshal([]byte(*ann), &desc.Annotations)
		}
		return desc, err
	})
	if out == nil {
		out = []meta.Descriptor{}
	}
	return out, classify(err)
}
