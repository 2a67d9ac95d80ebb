package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/meta"
)

// CreateRepository makes an empty repository.
func (s *Store) CreateRepository(ctx context.Context, r meta.Repository) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO repositories (name, owner, visibility, description, created_at, namespace)
			VALUES (?, NULLIF(?, ''), ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`,
			r.Name, r.Owner, string(r.Visibility), r.Description, unixNano(r.CreatedAt), meta.Namespace(r.Name))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
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
	return s.tx(ctx, func(tx *sql.Tx) error {
		return update(ctx, tx, "repositories", set, args, name, "repository")
	})
}

// Overview returns a repository's overview.
func (s *Store) Overview(ctx context.Context, repo string) (string, error) {
	var md string
	err := s.r.QueryRowContext(ctx, `SELECT overview FROM repositories WHERE name = ?`, repo).Scan(&md)
	if errors.Is(err, sql.ErrNoRows) {
		return "", notFound("repository %q", repo)
	}
	return md, err
}

// RecordPulls adds the counts, in one transaction.
func (s *Store) RecordPulls(ctx context.Context, pulls []meta.Pulls) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		for _, p := range pulls {
			if _, err := tx.ExecContext(ctx, `UPDATE repositories SET pulls = pulls + ?,
				last_pulled_at = max(last_pulled_at, ?) WHERE name = ?`, p.Count, unixNano(p.Last), p.Repo); err != nil {
				return err
			}
			for _, d := range p.Manifests {
				if _, err := tx.ExecContext(ctx, `UPDATE manifests SET pulled_at = max(pulled_at, ?)
					WHERE repo_id = (SELECT id FROM repositories WHERE name = ?) AND digest = ?`, unixNano(p.Last), p.Repo, d.String()); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// update sets columns (set, with args) of the row of table called name;
// with nothing to set it only checks that the row exists.
func update(ctx context.Context, tx *sql.Tx, table string, set []string, args []any, name, what string) error {
	if len(set) == 0 {
		set = []string{"name = name"}
	}
	res, err := tx.ExecContext(ctx, `UPDATE `+table+` SET `+strings.Join(set, ", ")+` WHERE name = ?`, append(args, name)...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("%s %q", what, name)
	}
	return nil
}

// DeleteRepository removes a repository and everything in it.
func (s *Store) DeleteRepository(ctx context.Context, name string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		id, err := repoID(ctx, tx, name)
		if err != nil {
			return err
		}
		return deleteRepo(ctx, tx, id)
	})
}

func deleteRepo(ctx context.Context, tx *sql.Tx, id int64) error {
	if _, err := tx.ExecContext(ctx, meta.SQLDeleteRepoRule, id); err != nil {
		return err
	}
	for _, table := range []string{"tags", "manifest_blobs", "manifest_children", "manifests", "links", "collaborators", "team_repos"} {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE repo_id = ?`, id); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM repositories WHERE id = ?`, id)
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
	limit := int64(p.N) + 1
	if p.N < 0 {
		limit = -1
	}
	rows, err := s.r.QueryContext(ctx, `SELECT r.name, r.owner, r.visibility, r.description, r.created_at, r.pulls, r.last_pulled_at,
		(SELECT count(*) FROM tags t WHERE t.repo_id = r.id),
		COALESCE((SELECT max(t.updated_at) FROM tags t WHERE t.repo_id = r.id), 0) AS last_pushed
		FROM repositories r WHERE `+cond+` ORDER BY `+order+` LIMIT ?`, append(args, limit)...)
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
	id, err := repoID(ctx, s.r, repo)
	if err != nil {
		return nil, false, err
	}
	order := `t.name`
	if q.ByDate {
		order = `t.updated_at DESC, t.name`
	}
	limit := int64(q.N) + 1
	if q.N < 0 {
		limit = -1
	}
	rows, err := s.r.QueryContext(ctx, `SELECT t.name, t.digest, m.media_type, length(m.content), t.updated_at
		FROM tags t JOIN manifests m ON m.repo_id = t.repo_id AND m.digest = t.digest
		WHERE t.repo_id = ? ORDER BY `+order+` LIMIT ? OFFSET ?`, id, limit, max(q.Offset, 0))
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
	err := q.QueryRowContext(ctx, `SELECT id FROM users WHERE name = ?`, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, notFound("user %q", name)
	}
	return id, err
}

// SetCollaborator gives user a role in repo.
func (s *Store) SetCollaborator(ctx context.Context, repo, user string, role meta.Role) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		rid, err := repoID(ctx, tx, repo)
		if err != nil {
			return err
		}
		uid, err := userID(ctx, tx, user)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO collaborators (repo_id, user_id, role) VALUES (?, ?, ?)
			ON CONFLICT (repo_id, user_id) DO UPDATE SET role = excluded.role`, rid, uid, string(role))
		return err
	})
}

// RemoveCollaborator takes user's role in repo away.
func (s *Store) RemoveCollaborator(ctx context.Context, repo, user string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM collaborators
			WHERE repo_id = (SELECT id FROM repositories WHERE name = ?) AND user_id = (SELECT id FROM users WHERE name = ?)`, repo, user)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("collaborator %q of %s", user, repo)
		}
		return nil
	})
}

// Collaborators lists a repository's collaborators by name.
func (s *Store) Collaborators(ctx context.Context, repo string) ([]meta.Collaborator, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT u.name, c.role FROM collaborators c
		JOIN users u ON u.id = c.user_id JOIN repositories r ON r.id = c.repo_id
		WHERE r.name = ? ORDER BY u.name`, repo)
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
	err := s.r.QueryRowContext(ctx, `SELECT c.role FROM collaborators c
		JOIN users u ON u.id = c.user_id JOIN repositories r ON r.id = c.repo_id
		WHERE r.name = ? AND u.name = ?`, repo, user).Scan(&role)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return meta.Role(role), err
}

// Usage counts users, repositories and live blobs.
func (s *Store) Usage(ctx context.Context) (meta.Usage, error) {
	var u meta.Usage
	err := s.r.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM repositories),
		(SELECT count(*) FROM blobs WHERE state = ?), (SELECT COALESCE(sum(size), 0) FROM blobs WHERE state = ?)`,
		meta.BlobLive, meta.BlobLive).Scan(&u.Users, &u.Repositories, &u.Blobs, &u.BlobBytes)
	return u, err
}
