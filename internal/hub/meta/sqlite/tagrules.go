package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/hub/meta"
)

// TagPolicy returns the policy on a repository or namespace.
func (s *Store) TagPolicy(ctx context.Context, scope meta.RuleScope, name string) (meta.TagPolicy, error) {
	p, err := meta.ScanTagPolicy(s.r.QueryRowContext(ctx, meta.SQLTagPolicy, string(scope), name))
	if errors.Is(err, sql.ErrNoRows) {
		return meta.TagPolicy{Scope: scope, Name: name}, nil
	}
	return p, err
}

// SetTagPolicy replaces (or, empty, removes) a policy.
func (s *Store) SetTagPolicy(ctx context.Context, p meta.TagPolicy) error {
	if p.Empty() {
		_, err := s.w.ExecContext(ctx, meta.SQLDeletePolicy, string(p.Scope), p.Name)
		return err
	}
	res, err := s.w.ExecContext(ctx, meta.SQLSetPolicy, meta.SetPolicyArgs(p)...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("repository %q", p.Name)
	}
	return nil
}

// TagPolicies lists every policy.
func (s *Store) TagPolicies(ctx context.Context) ([]meta.TagPolicy, error) {
	return policies(ctx, s.r, meta.SQLTagPolicies)
}

// PoliciesFor lists the policies that apply to repo.
func (s *Store) PoliciesFor(ctx context.Context, repo string) ([]meta.TagPolicy, error) {
	return policies(ctx, s.r, meta.SQLPoliciesFor, meta.PoliciesForArgs(repo)...)
}

func policies(ctx context.Context, q querier, query string, args ...any) ([]meta.TagPolicy, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return meta.Collect(rows, meta.ScanTagPolicy)
}

// ManifestInfos lists every manifest of repo with its children.
func (s *Store) ManifestInfos(ctx context.Context, repo string) ([]meta.ManifestInfo, error) {
	rows, err := s.r.QueryContext(ctx, meta.SQLManifestInfos, repo)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ms, err := meta.Collect(rows, meta.ScanManifestInfo)
	if err != nil {
		return nil, err
	}
	kids, err := s.r.QueryContext(ctx, meta.SQLManifestKids, repo)
	if err != nil {
		return nil, err
	}
	defer kids.Close()
	edges, err := meta.Collect(kids, meta.ScanEdge)
	return meta.WithChildren(ms, edges), err
}

// checkImmutable refuses pointing tags of repo at d (deleting them when d
// is "") when that would move or delete an immutable one; deleting (not
// "") is a manifest being deleted, whose tags it checks.
func checkImmutable(ctx context.Context, tx *sql.Tx, repoID int64, repo string, tags []string, d digest.Digest, deleting digest.Digest) error {
	ps, err := policies(ctx, tx, meta.SQLPoliciesFor, meta.PoliciesForArgs(repo)...)
	if err != nil || !meta.AnyImmutable(ps) {
		return err
	}
	if deleting != "" {
		if tags, err = tagsOf(ctx, tx, repoID, deleting); err != nil {
			return err
		}
	}
	return meta.CheckImmutable(ps, repo, tags, d, deleting, func(tag string) (digest.Digest, error) {
		var cur string
		err := tx.QueryRowContext(ctx, meta.SQLTagDigest, repoID, tag).Scan(&cur)
		if errors.Is(err, sql.ErrNoRows) {
			return "", nil
		}
		return digest.Digest(cur), err
	})
}

// tagsOf lists the tags of a repository pointing at d.
func tagsOf(ctx context.Context, tx *sql.Tx, repoID int64, d digest.Digest) ([]string, error) {
	rows, err := tx.QueryContext(ctx, meta.SQLTagsOf, repoID, d.String())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return meta.Collect(rows, func(row meta.Scanner) (string, error) {
		var s string
		return s, row.Scan(&s)
	})
}
