package meta

import (
	"context"
	"encoding/json"
	"time"
)

// AuditEvent is one entry of the audit log: who did what, when, from
// which address, to what.
type AuditEvent struct {
	ID      int64     // given by the store, increasing
	Time    time.Time // when the action committed
	Actor   string    // the user who acted ("" anonymous); for a failed sign-in, the name tried
	Action  string    // what was done (the Audit* constants)
	Addr    string    // the client's address
	Target  string    // what it was done to: a repository, repo:tag, repo@digest, a user, a token id
	Details map[string]string
}

// Actions the audit log records.
const (
	AuditSignIn          = "signin"
	AuditSignInFailed    = "signin.failed"
	AuditTokenCreate     = "token.create"
	AuditTokenRevoke     = "token.revoke"
	AuditPush            = "push"
	AuditManifestDelete  = "manifest.delete"
	AuditTagDelete       = "tag.delete"
	AuditRepoCreate      = "repository.create"
	AuditRepoDelete      = "repository.delete"
	AuditVisibility      = "repository.visibility"
	AuditCollaborator    = "collaborator.set"
	AuditCollaboratorOff = "collaborator.remove"
	AuditUserCreate      = "user.create"
	AuditUserChange      = "user.change" // an administrator's op on an account (details: op)
	AuditPassword        = "user.password"
	AuditSignup          = "admin.signup"
	AuditGC              = "admin.gc"
	AuditKeyRotate       = "admin.key.rotate"
	AuditKeyRevoke       = "admin.key.revoke"
	AuditHookCreate      = "webhook.create"
	AuditHookDelete      = "webhook.delete"
	AuditOrgCreate       = "org.create"
	AuditOrgDelete       = "org.delete"
	AuditOrgVisibility   = "org.visibility"    // details: visibility, of what pushes make there
	AuditMember          = "org.member.set"    // details: user, role
	AuditMemberOff       = "org.member.remove" // details: user
	AuditTeamCreate      = "team.create"
	AuditTeamDelete      = "team.delete"
	AuditTeamMember      = "team.member.add"    // details: team, user
	AuditTeamMemberOff   = "team.member.remove" // details: team, user
	AuditGrant           = "team.grant"         // details: team, repository, role
	AuditGrantOff        = "team.grant.remove"  // details: team, repository
	AuditOrgTokenCreate  = "org.token.create"
	AuditOrgTokenRevoke  = "org.token.revoke"
	AuditTagRules        = "tagrules.set"  // a repository's or namespace's tag policy changed (details: scope, the rules)
	AuditRetentionRun    = "retention.run" // retention run by hand on the website (details: what it deleted)
)

// AuditQuery selects audit entries: newest first, with ID below Before
// (0: from the newest), at most N (<= 0: 100), of one actor and one
// action when set.
type AuditQuery struct {
	Actor, Action string
	Before        int64
	N             int
}

// Audit is the audit log: appended to, read by administrators.
type Audit interface {
	// AddAudit appends e (its ID is the store's) and returns its ID.
	AddAudit(ctx context.Context, e AuditEvent) (int64, error)
	// AuditLog lists entries as q selects.
	AuditLog(ctx context.Context, q AuditQuery) ([]AuditEvent, error)
}

// Limit is q.N with its default.
func (q AuditQuery) Limit() int {
	if q.N <= 0 {
		return 100
	}
	return q.N
}

// AuditSQL is the query (with ? parameters) and its arguments that list
// the audit entries q selects from table audit, for the SQL stores.
func AuditSQL(q AuditQuery) (string, []any) {
	query := `SELECT id, at, actor, action, addr, target, details FROM audit WHERE true`
	var args []any
	if q.Before > 0 {
		query += ` AND id < ?`
		args = append(args, q.Before)
	}
	if q.Actor != "" {
		query += ` AND actor = ?`
		args = append(args, q.Actor)
	}
	if q.Action != "" {
		query += ` AND action = ?`
		args = append(args, q.Action)
	}
	return query + ` ORDER BY id DESC LIMIT ?`, append(args, q.Limit())
}

// EncodeDetails is details as the SQL stores keep them: a JSON object, or nil.
func EncodeDetails(details map[string]string) (any, error) {
	if len(details) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(details)
	return string(b), err
}

// DecodeDetails reads what EncodeDetails wrote ("" is none).
func DecodeDetails(s string) (map[string]string, error) {
	if s == "" {
		return nil, nil
	}
	var m map[string]string
	return m, json.Unmarshal([]byte(s), &m)
}
