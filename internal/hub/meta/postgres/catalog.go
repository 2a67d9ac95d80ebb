package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/meta"
)

// CreateRepository makes an empty repository.
func (s *Store) CreateRepository(ctx context.Context, r meta.Repository) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO repositories (name, owner, visibility, description, created_at)
			VALUES ($1, NULLIF($2, ''), $3, $4, $5) ON CONFLICT (name) DO NOTHING`,
			r.Name, r.Owner, string(r.Visibility), r.Description, unixNano(r.CreatedAt))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("repository %q: %w", r.Name, errdefs.ErrAlreadyExists)
		}
		return nil
	})
}

// UpdateRepository changes a repository's visibility and description.
func (s *Store) UpdateRepository(ctx context.Context, r meta.Repository) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE repositories SET visibility = $1, description = $2 WHERE name = $3`,
			string(r.Visibility), r.Description, r.Name)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound("repository %q", r.Name)
		}
		return nil
	})
}

// DeleteRepository removes a repository and everything in it.
func (s *Store) DeleteRepository(ctx context.Context, name string) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		id, err := repoID(ctx, tx, name)
		if err != nil {
			return err
		}
		return deleteRepos(ctx, tx, []int64{id})
	})
}

func deleteRepos(ctx context.Context, tx pgx.Tx, ids []int64) error {
	for _, table := range []string{"tags", "manifest_blobs", "manifests", "links", "collaborators"} {
		if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE repo_id = ANY($1)`, ids); err != nil {
			return err
		}
	}
	_, err := tx.Exec(ctx, `DELETE FROM repositories WHERE id = ANY($1)`, ids)
	return err
}

// filter builds the condition on repositories r that f selects, numbering
// its parameters from $1.
type filter struct {
	conds []string
	args  []any
}

// arg adds a parameter and returns its placeholder.
func (f *filter) arg(v any) string {
	f.args = append(f.args, v)
	return "$" + strconv.Itoa(len(f.args))
}

func visibleTo(rf meta.RepoFilter) *filter {
	f := &filter{}
	member := func() string {
		v := f.arg(rf.Viewer)
		return `(r.owner = ` + v + ` OR EXISTS (SELECT 1 FROM collaborators c JOIN users u ON u.id = c.user_id
			WHERE c.repo_id = r.id AND u.name = ` + v + `))`
	}
	switch {
	case rf.Mine:
		f.conds = append(f.conds, member())
	case !rf.All && rf.Viewer == "":
		f.conds = append(f.conds, `r.visibility = `+f.arg(string(meta.Public)))
	case !rf.All:
		pub := f.arg(string(meta.Public))
		f.conds = append(f.conds, `(r.visibility = `+pub+` OR `+member()+`)`)
	}
	if rf.Owner != "" {
		f.conds = append(f.conds, `r.owner = `+f.arg(rf.Owner))
	}
	if q := strings.TrimSpace(rf.Query); q != "" {
		like := f.arg("%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(strings.ToLower(q)) + "%")
		f.conds = append(f.conds, `(lower(r.name) LIKE `+like+` ESCAPE '\' OR lower(r.description) LIKE `+like+` ESCAPE '\')`)
	}
	return f
}

func (f *filter) where() string {
	if len(f.conds) == 0 {
		return "true"
	}
	return strings.Join(f.conds, " AND ")
}

// ListRepositories lists the repositories f selects.
func (s *Store) ListRepositories(ctx context.Context, rf meta.RepoFilter, p meta.Page) ([]meta.RepoSummary, bool, error) {
	f := visibleTo(rf)
	order := `r.name`
	if rf.Recent {
		order = `last_pushed DESC, r.name`
	} else {
		f.conds = append(f.conds, `r.name > `+f.arg(p.Last))
	}
	lim := f.arg(limit(p))
	rows, err := s.db.Query(ctx, `SELECT r.name, r.owner, r.visibility, r.description, r.created_at,
		(SELECT count(*) FROM tags t WHERE t.repo_id = r.id),
		COALESCE((SELECT max(t.updated_at) FROM tags t WHERE t.repo_id = r.id), 0) AS last_pushed
		FROM repositories r WHERE `+f.where()+` ORDER BY `+order+` LIMIT `+lim, f.args...)
	if err != nil {
		return nil, false, classify(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (meta.RepoSummary, error) {
		var r meta.RepoSummary
		var owner *string
		var vis string
		var created, pushed int64
		err := row.Scan(&r.Name, &owner, &vis, &r.Description, &created, &r.Tags, &pushed)
		if owner != nil {
			r.Owner = *owner
		}
		r.Visibility, r.CreatedAt = meta.Visibility(vis), fromNano(created)
		if pushed != 0 {
			r.LastPushed = fromNano(pushed)
		}
		return r, err
	})
	if err != nil {
		return nil, false, classify(err)
	}
	if out == nil {
		out = []meta.RepoSummary{}
	}
	out, more := cut(out, p)
	return out, more, nil
}

// TagList returns a repository's tags with their manifests.
func (s *Store) TagList(ctx context.Context, repo string) ([]meta.Tag, error) {
	id, err := repoID(ctx, s.db, repo)
	if err != nil {
		return nil, classify(err)
	}
	rows, err := s.db.Query(ctx, `SELECT t.name, t.digest, m.media_type, m.content, t.updated_at
		FROM tags t JOIN manifests m ON m.repo_id = t.repo_id AND m.digest = t.digest
		WHERE t.repo_id = $1 ORDER BY t.name`, id)
	if err != nil {
		return nil, classify(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (meta.Tag, error) {
		var t meta.Tag
		var d string
		var updated int64
		err := row.Scan(&t.Name, &d, &t.MediaType, &t.Content, &updated)
		t.Digest, t.UpdatedAt = digest.Digest(d), fromNano(updated)
		return t, err
	})
	if out == nil {
		out = []meta.Tag{}
	}
	return out, classify(err)
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
	return s.tx(ctx, func(tx pgx.Tx) error {
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
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM collaborators
			WHERE repo_id = (SELECT id FROM repositories WHERE name = $1) AND user_id = (SELECT id FROM users WHERE name = $2)`, repo, user)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
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
		return nil, classify(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (meta.Collaborator, error) {
		var c meta.Collaborator
		var role string
		err := row.Scan(&c.User, &role)
		c.Role = meta.Role(role)
		return c, err
	})
	if out == nil {
		out = []meta.Collaborator{}
	}
	return out, classify(err)
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
	return meta.Role(role), classify(err)
}

// Usage counts users, repositories and live blobs.
func (s *Store) Usage(ctx context.Context) (meta.Usage, error) {
	var u meta.Usage
	err := s.db.QueryRow(ctx, `SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM repositories),
		(SELECT count(*) FROM blobs WHERE state = 2), (SELECT COALESCE(sum(size), 0)::BIGINT FROM blobs WHERE state = 2)`).
		Scan(&u.Users, &u.Repositories, &u.Blobs, &u.BlobBytes)
	return u, classify(err)
}
