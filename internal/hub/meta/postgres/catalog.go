package postgres

import (
	"context"
	"database/sql"

	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/meta"
)

// CreateRepository makes an empty repository.
func (s *Store) CreateRepository(ctx context.Context, r meta.Repository) error {
	return s.tx(ctx, func(tx *txn) error {
		res, err := tx.Exec(ctx, `INSERT INTO repositories (name, owner, visibility, description, created_at, namespace)
			VALUES ($1, NULLIF($2, ''), $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING`,
			r.Name, r.Owner, string(r.Visibility), r.Description, unixNano(r.CreatedAt), meta.Namespace(r.Name))
		if err != nil {
			return err
		}
		if n := res.RowsAffected(); n == 0 {
			return fmt.Errorf("repository %q: %w", r.Name, errdefs.ErrAlreadyExists)
		}
		return nil
	})
}

// UpdateRepository writes the fields c sets.
func (s *Store) UpdateRepository(ctx context.Context, name string, c meta.RepoChange) error {
	var set []string
	var args []any
	if c.Visibility != nil {
		set, args = append(set, "visibility = ?"), append(args, string(*c.Visibility))
	}
	if c.Description != nil {
		set, args = append(set, "description = ?"), append(args, *c.Description)
	}
	if c.Overview != nil {
		set, args = append(set, "overview = ?"), append(args, *c.Overview)
	}
	return s.tx(ctx, func(tx *txn) error {
		return update(ctx, tx, "repositories", set, args, name, "repository")
	})
}

// Overview returns a repository's overview.
func (s *Store) Overview(ctx context.Context, repo string) (string, error) {
	var md string
	err := s.db.QueryRow(ctx, `SELECT overview FROM repositories WHERE name = $1`, repo).Scan(&md)
	if noRows(err) {
		return "", notFound("repository %q", repo)
	}
	return md, classify(err)
}

// RecordPulls adds the counts, in one transaction (one statement).
func (s *Store) RecordPulls(ctx context.Context, pulls []meta.Pulls) error {
	if len(pulls) == 0 {
		return nil
	}
	names, counts, lasts := make([]string, len(pulls)), make([]int64, len(pulls)), make([]int64, len(pulls))
	var mRepos, mDigests []string
	var mLasts []int64
	for i, p := range pulls {
		names[i], counts[i], lasts[i] = p.Repo, p.Count, unixNano(p.Last)
		for _, d := range p.Manifests {
			mRepos, mDigests, mLasts = append(mRepos, p.Repo), append(mDigests, d.String()), append(mLasts, unixNano(p.Last))
		}
	}
	return s.tx(ctx, func(tx *txn) error {
		_, err := tx.Exec(ctx, `WITH m AS (UPDATE manifests m SET pulled_at = GREATEST(m.pulled_at, p.last)
				FROM (SELECT n, d, max(l) AS last FROM unnest($4::text[], $5::text[], $6::bigint[]) AS u(n, d, l) GROUP BY n, d) p
				JOIN repositories pr ON pr.name = p.n
				WHERE m.repo_id = pr.id AND m.digest = p.d)
			UPDATE repositories r SET pulls = r.pulls + p.count,
			last_pulled_at = GREATEST(r.last_pulled_at, p.last)
			FROM (SELECT sum(c) AS count, max(l) AS last, n FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS u(n, c, l) GROUP BY n) p
			WHERE r.name = p.n`, names, counts, lasts, mRepos, mDigests, mLasts)
		return err
	})
}

// update sets columns (set, with args) of the row of table called name;
// with nothing to set it only checks that the row exists.
func update(ctx context.Context, tx *txn, table string, set []string, args []any, name, what string) error {
	if len(set) == 0 {
		set = []string{"name = name"}
	}
	res, err := tx.Exec(ctx, numbered(`UPDATE `+table+` SET `+strings.Join(set, ", ")+` WHERE name = ?`), append(args, name)...)
	if err != nil {
		return err
	}
	if n := res.RowsAffected(); n == 0 {
		return notFound("%s %q", what, name)
	}
	return nil
}

// DeleteRepository removes a repository and everything in it.
func (s *Store) DeleteRepository(ctx context.Context, name string) error {
	return s.tx(ctx, func(tx *txn) error {
		id, err := repoID(ctx, tx, name)
		if err != nil {
			return err
		}
		return deleteRepo(ctx, tx, id)
	})
}

func deleteRepo(ctx context.Context, tx *txn, id int64) error {
	if _, err := tx.Exec(ctx, numbered(meta.SQLDeleteRepoRule), id); err != nil {
		return err
	}
	for _, table := range []string{"tags", "manifest_blobs", "manifest_children", "manifests", "links", "collaborators", "team_repos"} {
		if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE repo_id = $1`, id); err != nil {
			return err
		}
	}
	_, err := tx.Exec(ctx, `DELETE FROM repositories WHERE id = $1`, id)
	return err
}

// ListRepositories lists the repositories f selects.
func (s *Store) ListRepositories(ctx context.Context, f meta.RepoFilter, p meta.Page) ([]meta.RepoSummary, bool, error) {
	cond, args := meta.RepoFilterSQL(f)
	order := `r.name`
	if f.Recent {
		order = `last_pushed DESC, r.name`
	} else {
		cond += ` AND r.name > ?`
		args = append(args, p.Last)
	}
	rows, err := s.db.Query(ctx, numbered(`SELECT r.name, r.owner, r.visibility, r.description, r.created_at, r.pulls, r.last_pulled_at,
		(SELECT count(*) FROM tags t WHERE t.repo_id = r.id),
		COALESCE((SELECT max(t.updated_at) FROM tags t WHERE t.repo_id = r.id), 0) AS last_pushed
		FROM repositories r WHERE `+cond+` ORDER BY `+order+` LIMIT ?`), append(args, limit(p))...)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	out := []meta.RepoSummary{}
	for rows.Next() {
		var r meta.RepoSummary
		var owner sql.NullString
		var vis string
		var created, pushed, pulled int64
		if err := rows.Scan(&r.Name, &owner, &vis, &r.Description, &created, &r.Pulls, &pulled, &r.Tags, &pushed); err != nil {
			return nil, false, err
		}
		r.Owner, r.Visibility, r.CreatedAt, r.LastPulled = owner.String, meta.Visibility(vis), fromNano(created), pulledAt(pulled)
		if pushed != 0 {
			r.LastPushed = fromNano(pushed)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	if p.N >= 0 && len(out) > p.N {
		return out[:p.N], true, nil
	}
	return out, false, nil
}

// TagList returns a page of a repository's tags.
func (s *Store) TagList(ctx context.Context, repo string, q meta.TagQuery) ([]meta.Tag, bool, error) {
	id, err := repoID(ctx, s.db, repo)
	if err != nil {
		return nil, false, err
	}
	order := `t.name`
	if q.ByDate {
		order = `t.updated_at DESC, t.name`
	}
	rows, err := s.db.Query(ctx, `SELECT t.name, t.digest, m.media_type, length(m.content), t.updated_at
		FROM tags t JOIN manifests m ON m.repo_id = t.repo_id AND m.digest = t.digest
		WHERE t.repo_id = $1 ORDER BY `+order+` LIMIT $2 OFFSET $3`, id, limit(meta.Page{N: q.N}), max(q.Offset, 0))
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	out := []meta.Tag{}
	for rows.Next() {
		var t meta.Tag
		var d string
		var updated int64
		if err := rows.Scan(&t.Name, &d, &t.MediaType, &t.Size, &updated); err != nil {
			return nil, false, err
		}
		t.Digest, t.UpdatedAt = digest.Digest(d), fromNano(updated)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	if q.N >= 0 && len(out) > q.N {
		return out[:q.N], true, nil
	}
	return out, false, nil
}

// userID returns the id of a user, or meta's not-found error.
func userID(ctx context.Context, q querier, name string) (int64, error) {
	var id int64
	err := q.QueryRow(ctx, `SELECT id FROM users WHERE name = $1`, name).Scan(&id)
	if noRows(err) {
		return 0, notFound("user %q", name)
	}
	return id, err
}

// SetCollaborator gives user a role in repo.
func (s *Store) SetCollaborator(ctx context.Context, repo, user string, role meta.Role) error {
	return s.tx(ctx, func(tx *txn) error {
		rid, err := repoID(ctx, tx, repo)
		if err != nil {
			return err
		}
		uid, err := userID(ctx, tx, user)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO collaborators (repo_id, user_id, role) VALUES ($1, $2, $3)
			ON CONFLICT (repo_id, user_id) DO UPDATE SET role = excluded.role`, rid, uid, string(role))
		return err
	})
}

// RemoveCollaborator takes user's role in repo away.
func (s *Store) RemoveCollaborator(ctx context.Context, repo, user string) error {
	return s.tx(ctx, func(tx *txn) error {
		res, err := tx.Exec(ctx, `DELETE FROM collaborators
			WHERE repo_id = (SELECT id FROM repositories WHERE name = $1) AND user_id = (SELECT id FROM users WHERE name = $2)`, repo, user)
		if err != nil {
			return err
		}
		if n := res.RowsAffected(); n == 0 {
			return notFound("collaborator %q of %s", user, repo)
		}
		return nil
	})
}

// Collaborators lists a repository's collaborators by name.
func (s *Store) Collaborators(ctx context.Context, repo string) ([]meta.Collaborator, error) {
	rows, err := s.db.Query(ctx, `SELECT u.name, c.role FROM collaborators c
		JOIN users u ON u.id = c.user_id JOIN repositories r ON r.id = c.repo_id
		WHERE r.name = $1 ORDER BY u.name`, repo)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []meta.Collaborator{}
	for rows.Next() {
		var c meta.Collaborator
		var role string
		if err := rows.Scan(&c.User, &role); err != nil {
			return nil, err
		}
		c.Role = meta.Role(role)
		out = append(out, c)
	}
	return out, rows.Err()
}

// CollaboratorRole is user's role in repo, "" when none.
func (s *Store) CollaboratorRole(ctx context.Context, repo, user string) (meta.Role, error) {
	var role string
	err := s.db.QueryRow(ctx, `SELECT c.role FROM collaborators c
		JOIN users u ON u.id = c.user_id JOIN repositories r ON r.id = c.repo_id
		WHERE r.name = $1 AND u.name = $2`, repo, user).Scan(&role)
	if noRows(err) {
		return "", nil
	}
	return meta.Role(role), err
}

// Usage counts users, repositories and live blobs.
func (s *Store) Usage(ctx context.Context) (meta.Usage, error) {
	var u meta.Usage
	err := s.db.QueryRow(ctx, `SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM repositories),
		(SELECT count(*) FROM blobs WHERE state = $1), (SELECT COALESCE(sum(size), 0)::BIGINT FROM blobs WHERE state = $2)`,
		meta.BlobLive, meta.BlobLive).Scan(&u.Users, &u.Repositories, &u.Blobs, &u.BlobBytes)
	return u, err
}
