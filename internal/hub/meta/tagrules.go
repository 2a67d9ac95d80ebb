package meta

import (
	"context"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
)

// RuleScope is what a tag policy applies to: one repository, or every
// repository of a namespace (see RuleNamespace).
type RuleScope string

const (
	ScopeRepository RuleScope = "repository"
	ScopeNamespace  RuleScope = "namespace"
)

// TagPolicy is the rules on the tags of a repository or a namespace.
// Immutable tags never move to another manifest and are never deleted;
// retention deletes, when run, the tags none of its rules keep (and, with
// DropUntagged, the manifests nothing kept refers to). A policy with no
// rule is none: setting it removes the policy.
type TagPolicy struct {
	Scope RuleScope
	Name  string // the repository or namespace
	// Immutable are tag patterns (path.Match globs: v*, release-*, or a
	// tag itself) whose tags, once pushed, stay where they point.
	Immutable []string
	// KeepLast keeps the KeepLast most recently pushed tags (0: no such rule).
	KeepLast int
	// KeepWithin keeps the tags pushed, or whose manifest was pulled,
	// within this long (0: no such rule).
	KeepWithin time.Duration
	// DropUntagged deletes the manifests no tag kept points at and no kept
	// index or referrer chain reaches.
	DropUntagged bool
	UpdatedBy    string
	UpdatedAt    time.Time
}

// Retains reports whether p has a retention rule (one that deletes).
func (p TagPolicy) Retains() bool { return p.KeepLast > 0 || p.KeepWithin > 0 || p.DropUntagged }

// Empty reports whether p has no rule at all.
func (p TagPolicy) Empty() bool { return len(p.Immutable) == 0 && !p.Retains() }

// MaxPatterns bounds the immutable patterns of one policy, and
// MaxPatternLen each pattern.
const (
	MaxPatterns   = 50
	MaxPatternLen = 128
)

// CheckPattern says what is wrong with an immutable tag pattern: a glob
// of path.Match over the characters a tag may hold.
func CheckPattern(p string) error {
	bad := func(why string) error {
		return fmt.Errorf("tag pattern %q %s: %w", p, why, errdefs.ErrInvalidArgument)
	}
	switch {
	case p == "":
		return bad("is empty")
	case len(p) > MaxPatternLen:
		return bad(fmt.Sprintf("is longer than %d characters", MaxPatternLen))
	}
	for _, c := range p {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._-*?[]^!", c)
		if !ok {
			return bad(fmt.Sprintf("has %q: use letters, digits, . _ - and the wildcards * ? [...]", c))
		}
	}
	if _, err := path.Match(p, ""); err != nil {
		return bad("is not a valid pattern (an unclosed [ ?)")
	}
	return nil
}

// MatchTag reports whether tag matches pattern (checked with CheckPattern).
func MatchTag(pattern, tag string) bool {
	ok, _ := path.Match(pattern, tag)
	return ok
}

// ImmutableError is a change refused because it would move or delete an
// immutable tag.
type ImmutableError struct {
	Repository, Tag string
	Pattern         string        // the rule's pattern
	Scope           RuleScope     // where the rule is set
	Name            string        // the repository or namespace it is set on
	Move            bool          // a push that would move the tag (else a delete)
	Manifest        digest.Digest // the manifest being deleted, "" a tag alone
}

func (e *ImmutableError) Error() string {
	rule := fmt.Sprintf("immutable (rule %q of %s %s)", e.Pattern, e.Scope, e.Name)
	switch {
	case e.Move:
		return fmt.Sprintf("tag %s of %s is %s and cannot be moved to another manifest: push under a new tag", e.Tag, e.Repository, rule)
	case e.Manifest != "":
		return fmt.Sprintf("manifest %s of %s is tagged %s, which is %s: it cannot be deleted while the rule stands", e.Manifest, e.Repository, e.Tag, rule)
	}
	return fmt.Sprintf("tag %s of %s is %s and cannot be deleted while the rule stands", e.Tag, e.Repository, rule)
}

func (e *ImmutableError) Unwrap() error { return errdefs.ErrForbidden }

// Protecting is the immutable rule among policies (those of repo) that
// covers tag, nil when none does.
func Protecting(policies []TagPolicy, repo, tag string) *ImmutableError {
	for _, p := range policies {
		for _, pat := range p.Immutable {
			if MatchTag(pat, tag) {
				return &ImmutableError{Repository: repo, Tag: tag, Pattern: pat, Scope: p.Scope, Name: p.Name}
			}
		}
	}
	return nil
}

// ManifestInfo is what retention weighs of a manifest.
type ManifestInfo struct {
	Digest    digest.Digest
	Subject   digest.Digest   // "" none
	Children  []digest.Digest // of an index
	CreatedAt time.Time
	PulledAt  time.Time // its latest pull (by tag or digest) recorded; zero none
}

// TagRules are the tag policies of repositories and namespaces. A
// repository's policy goes with the repository: deleting it deletes its
// policy.
type TagRules interface {
	// TagPolicy returns the policy on a repository or namespace: one with no
	// rule (and Scope and Name set) when there is none.
	TagPolicy(ctx context.Context, scope RuleScope, name string) (TagPolicy, error)
	// SetTagPolicy replaces the policy on p.Scope p.Name; an empty p
	// removes it. ErrNotFound for a repository that does not exist.
	SetTagPolicy(ctx context.Context, p TagPolicy) error
	// TagPolicies lists every policy, by scope and name.
	TagPolicies(ctx context.Context) ([]TagPolicy, error)
	// PoliciesFor lists the policies that apply to repo: its own, then its namespace's.
	PoliciesFor(ctx context.Context, repo string) ([]TagPolicy, error)
	// ManifestInfos lists every manifest of repo, by digest.
	ManifestInfos(ctx context.Context, repo string) ([]ManifestInfo, error)
}

// The statements of the SQL stores' TagRules, with ? parameters.
const (
	sqlPolicyColumns = `SELECT scope, name, immutable, keep_last, keep_within_ns, drop_untagged, updated_by, updated_at
		FROM tag_policies `
	SQLTagPolicy      = sqlPolicyColumns + `WHERE scope = ? AND name = ?`
	SQLTagPolicies    = sqlPolicyColumns + `ORDER BY scope, name`
	SQLPoliciesFor    = sqlPolicyColumns + `WHERE (scope = 'repository' AND name = ?) OR (scope = 'namespace' AND name = ?) ORDER BY scope DESC`
	SQLDeletePolicy   = `DELETE FROM tag_policies WHERE scope = ? AND name = ?`
	SQLManifestInfos  = `SELECT m.digest, m.subject, m.created_at, m.pulled_at FROM manifests m JOIN repositories r ON r.id = m.repo_id WHERE r.name = ? ORDER BY m.digest`
	SQLManifestKids   = `SELECT c.manifest, c.child FROM manifest_children c JOIN repositories r ON r.id = c.repo_id WHERE r.name = ? ORDER BY c.manifest, c.child`
	SQLTagsOf         = `SELECT name FROM tags WHERE repo_id = ? AND digest = ? ORDER BY name`
	SQLTagDigest      = `SELECT digest FROM tags WHERE repo_id = ? AND name = ?`
	SQLDeleteRepoRule = `DELETE FROM tag_policies WHERE scope = 'repository' AND name = (SELECT name FROM repositories WHERE id = ?)`
	// SQLDeleteNamespaceRules goes with the user or organization whose
	// namespace it is, so that whoever takes the name next starts clean.
	SQLDeleteNamespaceRules = `DELETE FROM tag_policies WHERE scope = 'namespace' AND name = ?`
)

// PoliciesForArgs are SQLPoliciesFor's arguments.
func PoliciesForArgs(repo string) []any { return []any{repo, RuleNamespace(repo)} }

// RuleNamespace is the namespace whose tag rules apply to repo: its first
// path component, "" for a name with one component (an administrator's
// repository, in no one's namespace; no namespace is called "").
func RuleNamespace(repo string) string {
	ns, _, nested := strings.Cut(repo, "/")
	if !nested {
		return ""
	}
	return ns
}

// PolicyArgs are the columns of p, in SQLTagPolicy's order.
func PolicyArgs(p TagPolicy) []any {
	drop := 0
	if p.DropUntagged {
		drop = 1
	}
	return []any{string(p.Scope), p.Name, strings.Join(p.Immutable, "\n"), p.KeepLast, int64(p.KeepWithin), drop,
		p.UpdatedBy, p.UpdatedAt.UnixNano()}
}

// ScanTagPolicy reads a row of SQLTagPolicy, SQLTagPolicies or SQLPoliciesFor.
func ScanTagPolicy(row Scanner) (TagPolicy, error) {
	var p TagPolicy
	var scope, immutable string
	var within, updated int64
	var drop int
	err := row.Scan(&scope, &p.Name, &immutable, &p.KeepLast, &within, &drop, &p.UpdatedBy, &updated)
	p.Scope, p.KeepWithin, p.DropUntagged, p.UpdatedAt = RuleScope(scope), time.Duration(within), drop != 0, time.Unix(0, updated)
	if immutable != "" {
		p.Immutable = strings.Split(immutable, "\n")
	}
	return p, err
}

// ScanManifestInfo reads a row of SQLManifestInfos.
func ScanManifestInfo(row Scanner) (ManifestInfo, error) {
	var m ManifestInfo
	var d string
	var subject *string
	var created, pulled int64
	err := row.Scan(&d, &subject, &created, &pulled)
	m.Digest, m.CreatedAt = digest.Digest(d), time.Unix(0, created)
	if subject != nil {
		m.Subject = digest.Digest(*subject)
	}
	if pulled > 0 {
		m.PulledAt = time.Unix(0, pulled)
	}
	return m, err
}

// Edge is a row of SQLManifestKids: an index and one of its children.
type Edge struct{ Index, Child digest.Digest }

// ScanEdge reads a row of SQLManifestKids.
func ScanEdge(row Scanner) (Edge, error) {
	var a, b string
	err := row.Scan(&a, &b)
	return Edge{digest.Digest(a), digest.Digest(b)}, err
}

// WithChildren sets each manifest's children from edges.
func WithChildren(ms []ManifestInfo, edges []Edge) []ManifestInfo {
	at := make(map[digest.Digest]int, len(ms))
	for i, m := range ms {
		at[m.Digest] = i
	}
	for _, e := range edges {
		if i, ok := at[e.Index]; ok {
			ms[i].Children = append(ms[i].Children, e.Child)
		}
	}
	return ms
}

// CheckImmutable refuses a change to repo's tags (a push pointing them at
// d, or a delete when d is "": of manifest deleting, when not "") that
// would move or delete one an immutable rule of policies covers; current
// says which manifest a tag points at ("" none: a tag pushed for the first
// time is never refused).
func CheckImmutable(policies []TagPolicy, repo string, tags []string, d, deleting digest.Digest,
	current func(tag string) (digest.Digest, error)) error {
	for _, t := range tags {
		e := Protecting(policies, repo, t)
		if e == nil {
			continue
		}
		cur, err := current(t)
		if err != nil {
			return err
		}
		if cur != "" && cur != d {
			e.Move, e.Manifest = d != "", deleting
			return e
		}
	}
	return nil
}

// AnyImmutable reports whether policies have an immutable rule.
func AnyImmutable(policies []TagPolicy) bool {
	for _, p := range policies {
		if len(p.Immutable) > 0 {
			return true
		}
	}
	return false
}

// SQLSetPolicy writes a policy (PolicyArgs, then its scope and name
// again): a repository's only while the repository exists.
const SQLSetPolicy = `INSERT INTO tag_policies (scope, name, immutable, keep_last, keep_within_ns, drop_untagged, updated_by, updated_at)
	SELECT ?, ?, ?, ?, ?, ?, ?, ? WHERE ? = 'namespace' OR EXISTS (SELECT 1 FROM repositories WHERE name = ?)
	ON CONFLICT (scope, name) DO UPDATE SET immutable = excluded.immutable, keep_last = excluded.keep_last,
		keep_within_ns = excluded.keep_within_ns, drop_untagged = excluded.drop_untagged,
		updated_by = excluded.updated_by, updated_at = excluded.updated_at`

// SetPolicyArgs are SQLSetPolicy's arguments for p.
func SetPolicyArgs(p TagPolicy) []any { return append(PolicyArgs(p), string(p.Scope), p.Name) }
