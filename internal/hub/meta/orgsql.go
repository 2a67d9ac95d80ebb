package meta

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/strata-dev/strata/internal/errdefs"
)

// SQLTx is a transaction of an SQL store (or its connections, to read
// outside one), its statements written with ? parameters, so that code
// over it is written once for SQLite and PostgreSQL.
type SQLTx interface {
	// Exec runs a statement and returns how many rows it changed.
	Exec(ctx context.Context, query string, args ...any) (int64, error)
	// QueryRow runs a query for one row; ErrNoRows when it finds none.
	QueryRow(ctx context.Context, query string, args ...any) Scanner
	// Each runs fn on every row of a query.
	Each(ctx context.Context, query string, args []any, fn func(Scanner) error) error
}

// ErrNoRows is what a SQLTx's row scans to when its query found none.
var ErrNoRows = errors.New("no rows")

// NoRowsAs is row with the driver's no-rows error (noRows) read as ErrNoRows.
func NoRowsAs(row Scanner, noRows error) Scanner { return noRowsScanner{row, noRows} }

type noRowsScanner struct {
	row    Scanner
	noRows error
}

func (s noRowsScanner) Scan(dest ...any) error {
	if err := s.row.Scan(dest...); errors.Is(err, s.noRows) {
		return ErrNoRows
	} else {
		return err
	}
}

// EachRow runs fn on every row of rows (which the caller closes).
func EachRow(rows Rows, fn func(Scanner) error) error {
	_, err := Collect(rows, func(s Scanner) (struct{}, error) { return struct{}{}, fn(s) })
	return err
}

// SQLOrgs implements Orgs for the SQL stores: Write runs fn in a
// transaction, Read runs reads outside one.
type SQLOrgs struct {
	Write func(ctx context.Context, fn func(SQLTx) error) error
	Read  func(ctx context.Context, fn func(SQLTx) error) error
}

func sqlNotFound(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), errdefs.ErrNotFound)
}

// id reads the one id a query finds, or not found (what, name).
func sqlID(ctx context.Context, tx SQLTx, query, what string, args ...any) (int64, error) {
	var id int64
	err := tx.QueryRow(ctx, query, args...).Scan(&id)
	if errors.Is(err, ErrNoRows) {
		return 0, sqlNotFound("%s %q", what, fmt.Sprint(args...))
	}
	return id, err
}

func orgID(ctx context.Context, tx SQLTx, org string) (int64, error) {
	return sqlID(ctx, tx, `SELECT id FROM orgs WHERE name = ?`, "organization", org)
}

func userIDOf(ctx context.Context, tx SQLTx, user string) (int64, error) {
	return sqlID(ctx, tx, `SELECT id FROM users WHERE name = ?`, "user", user)
}

func teamID(ctx context.Context, tx SQLTx, org, team string) (int64, error) {
	id, err := sqlID(ctx, tx, `SELECT t.id FROM teams t JOIN orgs o ON o.id = t.org_id WHERE o.name = ? AND t.name = ?`, "team", org, team)
	if errdefs.IsNotFound(err) {
		err = sqlNotFound("team %q of %s", team, org)
	}
	return id, err
}

// exists reports whether a query finds a row.
func exists(ctx context.Context, tx SQLTx, query string, args ...any) (bool, error) {
	var one int
	err := tx.QueryRow(ctx, query, args...).Scan(&one)
	if errors.Is(err, ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// NameTaken is ErrAlreadyExists when a user or an organization is called
// name; the SQL stores check it before making either.
func NameTaken(ctx context.Context, tx SQLTx, name string) error {
	for _, table := range []string{"users", "orgs"} {
		taken, err := exists(ctx, tx, `SELECT 1 FROM `+table+` WHERE name = ?`, name)
		if err != nil || taken {
			if err == nil {
				err = fmt.Errorf("the name %q is taken by a user or an organization: %w", name, errdefs.ErrAlreadyExists)
			}
			return err
		}
	}
	return nil
}

// CreateOrg makes an organization owned by its creator.
func (s SQLOrgs) CreateOrg(ctx context.Context, o Org) error {
	return s.Write(ctx, func(tx SQLTx) error {
		if err := NameTaken(ctx, tx, o.Name); err != nil {
			return err
		}
		if used, err := exists(ctx, tx, `SELECT 1 FROM repositories WHERE namespace = ?`, o.Name); err != nil || used {
			if err == nil {
				err = fmt.Errorf("namespace %q already has repositories: %w", o.Name, errdefs.ErrAlreadyExists)
			}
			return err
		}
		uid, err := userIDOf(ctx, tx, o.CreatedBy)
		if err != nil {
			return err
		}
		vis := o.DefaultVisibility
		if vis == "" {
			vis = Private
		}
		var id int64
		err = tx.QueryRow(ctx, `INSERT INTO orgs (name, default_visibility, created_by, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (name) DO NOTHING RETURNING id`, o.Name, string(vis), o.CreatedBy, o.CreatedAt.UnixNano()).Scan(&id)
		if errors.Is(err, ErrNoRows) {
			return fmt.Errorf("organization %q: %w", o.Name, errdefs.ErrAlreadyExists)
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO org_members (org_id, user_id, role) VALUES (?, ?, ?)`, id, uid, string(OrgOwner))
		return err
	})
}

const sqlOrgColumns = `SELECT o.name, o.default_visibility, o.created_by, o.created_at FROM orgs o `

func scanOrg(row Scanner) (Org, error) {
	var o Org
	var vis string
	var created int64
	err := row.Scan(&o.Name, &vis, &o.CreatedBy, &created)
	o.DefaultVisibility, o.CreatedAt = Visibility(vis), time.Unix(0, created)
	return o, err
}

// Org returns an organization by name.
func (s SQLOrgs) Org(ctx context.Context, name string) (Org, error) {
	var o Org
	err := s.Read(ctx, func(tx SQLTx) error {
		var err error
		o, err = scanOrg(tx.QueryRow(ctx, sqlOrgColumns+`WHERE o.name = ?`, name))
		if errors.Is(err, ErrNoRows) {
			return sqlNotFound("organization %q", name)
		}
		return err
	})
	return o, err
}

// SetOrgVisibility sets an organization's default visibility.
func (s SQLOrgs) SetOrgVisibility(ctx context.Context, org string, v Visibility) error {
	if v != Public && v != Private {
		return fmt.Errorf("visibility %q: want public or private: %w", v, errdefs.ErrInvalidArgument)
	}
	return s.Write(ctx, func(tx SQLTx) error {
		n, err := tx.Exec(ctx, `UPDATE orgs SET default_visibility = ? WHERE name = ?`, string(v), org)
		if err == nil && n == 0 {
			err = sqlNotFound("organization %q", org)
		}
		return err
	})
}

// OrgsOf lists user's organizations ("" every one).
func (s SQLOrgs) OrgsOf(ctx context.Context, user string) ([]Org, error) {
	q, args := sqlOrgColumns+`ORDER BY o.name`, []any{}
	if user != "" {
		q = sqlOrgColumns + `JOIN org_members m ON m.org_id = o.id JOIN users u ON u.id = m.user_id WHERE u.name = ? ORDER BY o.name`
		args = append(args, user)
	}
	return collectRead(ctx, s, q, args, scanOrg)
}

// collectRead reads every row of a query with scan.
func collectRead[T any](ctx context.Context, s SQLOrgs, query string, args []any, scan func(Scanner) (T, error)) ([]T, error) {
	out := []T{}
	err := s.Read(ctx, func(tx SQLTx) error {
		return tx.Each(ctx, query, args, func(row Scanner) error {
			v, err := scan(row)
			out = append(out, v)
			return err
		})
	})
	return out, err
}

// DeleteOrg removes an organization that owns no repository.
func (s SQLOrgs) DeleteOrg(ctx context.Context, name string) error {
	return s.Write(ctx, func(tx SQLTx) error {
		id, err := orgID(ctx, tx, name)
		if err != nil {
			return err
		}
		if has, err := exists(ctx, tx, `SELECT 1 FROM repositories WHERE owner = ?`, name); err != nil || has {
			if err == nil {
				err = fmt.Errorf("organization %s still has repositories: delete them first: %w", name, errdefs.ErrConflict)
			}
			return err
		}
		for _, q := range []string{
			`DELETE FROM team_members WHERE team_id IN (SELECT id FROM teams WHERE org_id = ?)`,
			`DELETE FROM team_repos WHERE team_id IN (SELECT id FROM teams WHERE org_id = ?)`,
			`DELETE FROM teams WHERE org_id = ?`, `DELETE FROM org_members WHERE org_id = ?`,
			`DELETE FROM org_tokens WHERE org_id = ?`,
			`DELETE FROM webhook_deliveries WHERE hook_id IN (SELECT id FROM webhooks WHERE org_id = ?)`,
			`DELETE FROM webhooks WHERE org_id = ?`, `DELETE FROM orgs WHERE id = ?`,
		} {
			if _, err := tx.Exec(ctx, q, id); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, SQLDeleteNamespaceRules, name)
		return err
	})
}

// keepAnOwner is ErrConflict when org has no owner left.
func keepAnOwner(ctx context.Context, tx SQLTx, org int64, name string) error {
	has, err := exists(ctx, tx, `SELECT 1 FROM org_members WHERE org_id = ? AND role = ?`, org, string(OrgOwner))
	if err == nil && !has {
		err = fmt.Errorf("organization %s would have no owner left: make another owner first: %w", name, errdefs.ErrConflict)
	}
	return err
}

// SetMember makes user a member or owner of org.
func (s SQLOrgs) SetMember(ctx context.Context, org, user string, role OrgRole) error {
	if role != OrgOwner && role != OrgMember {
		return fmt.Errorf("organization role %q: want owner or member: %w", role, errdefs.ErrInvalidArgument)
	}
	return s.Write(ctx, func(tx SQLTx) error {
		oid, err := orgID(ctx, tx, org)
		if err != nil {
			return err
		}
		uid, err := userIDOf(ctx, tx, user)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO org_members (org_id, user_id, role) VALUES (?, ?, ?)
			ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role`, oid, uid, string(role)); err != nil {
			return err
		}
		return keepAnOwner(ctx, tx, oid, org)
	})
}

// RemoveMember takes user out of org and its teams.
func (s SQLOrgs) RemoveMember(ctx context.Context, org, user string) error {
	return s.Write(ctx, func(tx SQLTx) error {
		oid, err := orgID(ctx, tx, org)
		if err != nil {
			return err
		}
		uid, err := userIDOf(ctx, tx, user)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM team_members WHERE user_id = ? AND team_id IN (SELECT id FROM teams WHERE org_id = ?)`, uid, oid); err != nil {
			return err
		}
		n, err := tx.Exec(ctx, `DELETE FROM org_members WHERE org_id = ? AND user_id = ?`, oid, uid)
		if err == nil && n == 0 {
			return sqlNotFound("member %q of %s", user, org)
		}
		if err != nil {
			return err
		}
		return keepAnOwner(ctx, tx, oid, org)
	})
}

// Members lists org's members.
func (s SQLOrgs) Members(ctx context.Context, org string) ([]Member, error) {
	return collectRead(ctx, s, `SELECT u.name, m.role FROM org_members m JOIN users u ON u.id = m.user_id
		JOIN orgs o ON o.id = m.org_id WHERE o.name = ? ORDER BY u.name`, []any{org}, func(row Scanner) (Member, error) {
		user, role, err := scanNameRole[OrgRole](row)
		return Member{User: user, Role: role}, err
	})
}

// scanNameRole reads a row of a name and a role.
func scanNameRole[R ~string](row Scanner) (string, R, error) {
	var name, role string
	err := row.Scan(&name, &role)
	return name, R(role), err
}

// MemberRole is user's role in org.
func (s SQLOrgs) MemberRole(ctx context.Context, org, user string) (OrgRole, error) {
	var role string
	err := s.Read(ctx, func(tx SQLTx) error {
		err := tx.QueryRow(ctx, `SELECT m.role FROM org_members m JOIN users u ON u.id = m.user_id
			JOIN orgs o ON o.id = m.org_id WHERE o.name = ? AND u.name = ?`, org, user).Scan(&role)
		if errors.Is(err, ErrNoRows) {
			return nil
		}
		return err
	})
	return OrgRole(role), err
}

// CreateTeam adds a team to an organization.
func (s SQLOrgs) CreateTeam(ctx context.Context, t Team) error {
	return s.Write(ctx, func(tx SQLTx) error {
		oid, err := orgID(ctx, tx, t.Org)
		if err != nil {
			return err
		}
		n, err := tx.Exec(ctx, `INSERT INTO teams (org_id, name, description, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (org_id, name) DO NOTHING`, oid, t.Name, t.Description, t.CreatedAt.UnixNano())
		if err == nil && n == 0 {
			err = fmt.Errorf("organization %s already has a team %q: %w", t.Org, t.Name, errdefs.ErrAlreadyExists)
		}
		return err
	})
}

// Teams lists org's teams.
func (s SQLOrgs) Teams(ctx context.Context, org string) ([]Team, error) {
	return collectRead(ctx, s, `SELECT o.name, t.name, t.description, t.created_at FROM teams t
		JOIN orgs o ON o.id = t.org_id WHERE o.name = ? ORDER BY t.name`, []any{org}, func(row Scanner) (Team, error) {
		var t Team
		var created int64
		err := row.Scan(&t.Org, &t.Name, &t.Description, &created)
		t.CreatedAt = time.Unix(0, created)
		return t, err
	})
}

// DeleteTeam removes a team.
func (s SQLOrgs) DeleteTeam(ctx context.Context, org, team string) error {
	return s.Write(ctx, func(tx SQLTx) error {
		tid, err := teamID(ctx, tx, org, team)
		if err != nil {
			return err
		}
		for _, q := range []string{`DELETE FROM team_members WHERE team_id = ?`, `DELETE FROM team_repos WHERE team_id = ?`,
			`DELETE FROM teams WHERE id = ?`} {
			if _, err := tx.Exec(ctx, q, tid); err != nil {
				return err
			}
		}
		return nil
	})
}

// AddTeamMember puts user in a team (and its organization).
func (s SQLOrgs) AddTeamMember(ctx context.Context, org, team, user string) error {
	return s.Write(ctx, func(tx SQLTx) error {
		tid, err := teamID(ctx, tx, org, team)
		if err != nil {
			return err
		}
		uid, err := userIDOf(ctx, tx, user)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO org_members (org_id, user_id, role) SELECT org_id, ?, ? FROM teams WHERE id = ?
			ON CONFLICT (org_id, user_id) DO NOTHING`, uid, string(OrgMember), tid); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO team_members (team_id, user_id) VALUES (?, ?) ON CONFLICT (team_id, user_id) DO NOTHING`, tid, uid)
		return err
	})
}

// RemoveTeamMember takes user out of a team.
func (s SQLOrgs) RemoveTeamMember(ctx context.Context, org, team, user string) error {
	return s.teamDelete(ctx, org, team, `DELETE FROM team_members WHERE team_id = ? AND user_id = (SELECT id FROM users WHERE name = ?)`,
		user, "member %q of team "+team)
}

// teamDelete runs query (a DELETE of one row, its parameters the team's
// id and arg) on a team; none deleted is not found (what, with arg).
func (s SQLOrgs) teamDelete(ctx context.Context, org, team, query, arg, what string) error {
	return s.Write(ctx, func(tx SQLTx) error {
		tid, err := teamID(ctx, tx, org, team)
		if err != nil {
			return err
		}
		n, err := tx.Exec(ctx, query, tid, arg)
		if err == nil && n == 0 {
			err = sqlNotFound(what, arg)
		}
		return err
	})
}

// TeamMembers lists a team's members.
func (s SQLOrgs) TeamMembers(ctx context.Context, org, team string) ([]string, error) {
	return collectRead(ctx, s, `SELECT u.name FROM team_members tm JOIN users u ON u.id = tm.user_id
		JOIN teams t ON t.id = tm.team_id JOIN orgs o ON o.id = t.org_id WHERE o.name = ? AND t.name = ? ORDER BY u.name`,
		[]any{org, team}, func(row Scanner) (string, error) {
			var name string
			return name, row.Scan(&name)
		})
}

// SetGrant gives a team a role on one of its organization's repositories.
func (s SQLOrgs) SetGrant(ctx context.Context, org, team, repo string, role Role) error {
	if role.Rank() == 0 {
		return fmt.Errorf("team role %q: want read, write or admin: %w", role, errdefs.ErrInvalidArgument)
	}
	return s.Write(ctx, func(tx SQLTx) error {
		tid, err := teamID(ctx, tx, org, team)
		if err != nil {
			return err
		}
		rid, err := sqlID(ctx, tx, `SELECT id FROM repositories WHERE name = ? AND owner = ?`, "repository", repo, org)
		if errdefs.IsNotFound(err) {
			err = sqlNotFound("repository %q of %s", repo, org)
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO team_repos (team_id, repo_id, role) VALUES (?, ?, ?)
			ON CONFLICT (team_id, repo_id) DO UPDATE SET role = excluded.role`, tid, rid, string(role))
		return err
	})
}

// RemoveGrant takes a team's role on repo away.
func (s SQLOrgs) RemoveGrant(ctx context.Context, org, team, repo string) error {
	return s.teamDelete(ctx, org, team, `DELETE FROM team_repos WHERE team_id = ? AND repo_id = (SELECT id FROM repositories WHERE name = ?)`,
		repo, "grant of team "+team+" on %q")
}

// Grants lists a team's roles.
func (s SQLOrgs) Grants(ctx context.Context, org, team string) ([]Grant, error) {
	return collectRead(ctx, s, `SELECT r.name, g.role FROM team_repos g JOIN repositories r ON r.id = g.repo_id
		JOIN teams t ON t.id = g.team_id JOIN orgs o ON o.id = t.org_id WHERE o.name = ? AND t.name = ? ORDER BY r.name`,
		[]any{org, team}, func(row Scanner) (Grant, error) {
			repo, role, err := scanNameRole[Role](row)
			return Grant{Repository: repo, Role: role}, err
		})
}

// RepoTeams lists the teams granted a role on repo.
func (s SQLOrgs) RepoTeams(ctx context.Context, repo string) ([]TeamGrant, error) {
	return collectRead(ctx, s, `SELECT t.name, g.role FROM team_repos g JOIN teams t ON t.id = g.team_id
		JOIN repositories r ON r.id = g.repo_id WHERE r.name = ? ORDER BY t.name`, []any{repo}, func(row Scanner) (TeamGrant, error) {
		team, role, err := scanNameRole[Role](row)
		return TeamGrant{Team: team, Role: role}, err
	})
}

// TeamRole is the highest role user's teams have on repo.
func (s SQLOrgs) TeamRole(ctx context.Context, repo, user string) (Role, error) {
	r, err := s.Roles(ctx, "", repo, user)
	return r.Team, err
}

// Roles reads user's roles around repo in one query.
func (s SQLOrgs) Roles(ctx context.Context, owner, repo, user string) (Roles, error) {
	var r Roles
	err := s.Read(ctx, func(tx SQLTx) error {
		var org, collab string
		var team int
		err := tx.QueryRow(ctx, `SELECT
			COALESCE((SELECT m.role FROM org_members m JOIN orgs o ON o.id = m.org_id JOIN users u ON u.id = m.user_id
				WHERE o.name = ? AND u.name = ?), ''),
			COALESCE((SELECT c.role FROM collaborators c JOIN users u ON u.id = c.user_id JOIN repositories r ON r.id = c.repo_id
				WHERE r.name = ? AND u.name = ?), ''),
			COALESCE((SELECT max(CASE g.role WHEN 'read' THEN 1 WHEN 'write' THEN 2 WHEN 'admin' THEN 3 ELSE 0 END)
				FROM team_repos g JOIN team_members tm ON tm.team_id = g.team_id JOIN users u ON u.id = tm.user_id
				JOIN repositories r ON r.id = g.repo_id WHERE r.name = ? AND u.name = ?), 0)`,
			owner, user, repo, user, repo, user).Scan(&org, &collab, &team)
		r = Roles{Org: OrgRole(org), Collaborator: Role(collab), Team: roleOfRank(team)}
		return err
	})
	return r, err
}

// roleOfRank is the role of a Rank.
func roleOfRank(rank int) Role {
	for _, r := range []Role{RoleRead, RoleWrite, RoleAdmin} {
		if r.Rank() == rank {
			return r
		}
	}
	return ""
}

// CreateOrgToken stores an organization's token.
func (s SQLOrgs) CreateOrgToken(ctx context.Context, t OrgToken) (int64, error) {
	var id int64
	err := s.Write(ctx, func(tx SQLTx) error {
		oid, err := orgID(ctx, tx, t.Org)
		if err != nil {
			return err
		}
		var expires int64
		if !t.ExpiresAt.IsZero() {
			expires = t.ExpiresAt.UnixNano()
		}
		return tx.QueryRow(ctx, `INSERT INTO org_tokens (org_id, name, hash, scope, created_by, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`, oid, t.Name, t.Hash, t.Scope, t.CreatedBy, t.CreatedAt.UnixNano(), expires).Scan(&id)
	})
	return id, err
}

const sqlOrgTokenColumns = `SELECT t.id, o.name, t.name, t.hash, t.scope, t.created_by, t.created_at, t.expires_at, t.last_used_at
	FROM org_tokens t JOIN orgs o ON o.id = t.org_id `

func scanOrgToken(row Scanner) (OrgToken, error) {
	var t OrgToken
	var created, expires, used int64
	err := row.Scan(&t.ID, &t.Org, &t.Name, &t.Hash, &t.Scope, &t.CreatedBy, &created, &expires, &used)
	t.CreatedAt = time.Unix(0, created)
	if expires != 0 {
		t.ExpiresAt = time.Unix(0, expires)
	}
	if used != 0 {
		t.LastUsedAt = time.Unix(0, used)
	}
	return t, err
}

// OrgTokenByHash finds an organization's token by its hash.
func (s SQLOrgs) OrgTokenByHash(ctx context.Context, hash string) (OrgToken, error) {
	var t OrgToken
	err := s.Read(ctx, func(tx SQLTx) error {
		var err error
		if t, err = scanOrgToken(tx.QueryRow(ctx, sqlOrgTokenColumns+`WHERE t.hash = ?`, hash)); errors.Is(err, ErrNoRows) {
			err = sqlNotFound("organization token")
		}
		return err
	})
	return t, err
}

// OrgTokens lists org's tokens, newest first.
func (s SQLOrgs) OrgTokens(ctx context.Context, org string) ([]OrgToken, error) {
	return collectRead(ctx, s, sqlOrgTokenColumns+`WHERE o.name = ? ORDER BY t.id DESC`, []any{org}, scanOrgToken)
}

// DeleteOrgToken revokes one of org's tokens.
func (s SQLOrgs) DeleteOrgToken(ctx context.Context, org string, id int64) error {
	return s.Write(ctx, func(tx SQLTx) error {
		n, err := tx.Exec(ctx, `DELETE FROM org_tokens WHERE id = ? AND org_id = (SELECT id FROM orgs WHERE name = ?)`, id, org)
		if err == nil && n == 0 {
			err = sqlNotFound("token %d of %s", id, org)
		}
		return err
	})
}

// TouchOrgToken records a use.
func (s SQLOrgs) TouchOrgToken(ctx context.Context, id int64, now time.Time) error {
	return s.Write(ctx, func(tx SQLTx) error {
		_, err := tx.Exec(ctx, `UPDATE org_tokens SET last_used_at = ? WHERE id = ?`, now.UnixNano(), id)
		return err
	})
}

// OrgHooks lists an organization's webhooks.
func (s SQLOrgs) OrgHooks(ctx context.Context, org string) ([]Hook, error) {
	return collectRead(ctx, s, SQLOrgHooks, []any{org}, ScanHook)
}

// DeleteOrgHook removes an organization's webhook and its deliveries.
func (s SQLOrgs) DeleteOrgHook(ctx context.Context, org string, id int64) error {
	return s.Write(ctx, func(tx SQLTx) error {
		n, err := tx.Exec(ctx, `DELETE FROM webhooks WHERE id = ? AND org_id <> 0 AND org_id = (SELECT id FROM orgs WHERE name = ?)`, id, org)
		if err == nil && n == 0 {
			return sqlNotFound("webhook %d of %s", id, org)
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM webhook_deliveries WHERE hook_id = ?`, id)
		return err
	})
}

// RepoFilterSQL is the condition on repositories r that f selects, with
// its arguments (? parameters), for the SQL stores. A signed-in viewer
// sees public repositories and those they own, collaborate on, own the
// organization of, or are granted through a team.
func RepoFilterSQL(f RepoFilter) (string, []any) {
	var conds []string
	var args []any
	member := `(r.owner = ? OR EXISTS (SELECT 1 FROM collaborators c JOIN users u ON u.id = c.user_id
		WHERE c.repo_id = r.id AND u.name = ?)
		OR EXISTS (SELECT 1 FROM org_members m JOIN orgs o ON o.id = m.org_id JOIN users u ON u.id = m.user_id
		WHERE o.name = r.owner AND u.name = ? AND m.role = 'owner')
		OR EXISTS (SELECT 1 FROM team_repos g JOIN team_members tm ON tm.team_id = g.team_id JOIN users u ON u.id = tm.user_id
		WHERE g.repo_id = r.id AND u.name = ?))`
	viewer := []any{f.Viewer, f.Viewer, f.Viewer, f.Viewer}
	switch {
	case f.Mine:
		conds, args = append(conds, member), append(args, viewer...)
	case !f.All && f.Viewer == "":
		conds, args = append(conds, `r.visibility = ?`), append(args, string(Public))
	case !f.All:
		conds, args = append(conds, `(r.visibility = ? OR `+member+`)`), append(append(args, string(Public)), viewer...)
	}
	if f.Owner != "" {
		conds, args = append(conds, `r.owner = ?`), append(args, f.Owner)
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		like := "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(strings.ToLower(q)) + "%"
		conds = append(conds, `(lower(r.name) LIKE ? ESCAPE '\' OR lower(r.description) LIKE ? ESCAPE '\')`)
		args = append(args, like, like)
	}
	if len(conds) == 0 {
		return "true", nil
	}
	return strings.Join(conds, " AND "), args
}
