// Package retention decides which tags and manifests of a repository its
// tag policy (package meta) lets go, and deletes them through the
// registry's own delete path, so that immutable tags are respected and the
// audit log and webhooks hear of each deletion; the blobs they leave
// unreferenced are the garbage collector's, as after any delete.
//
// The rules of a policy keep; retention deletes the tags no rule keeps:
//
//   - an immutable tag is always kept;
//   - KeepLast keeps the most recently pushed tags;
//   - KeepWithin keeps the tags pushed, or whose manifest was pulled, within
//     that long;
//   - with neither, every tag is kept.
//
// With DropUntagged it then deletes the manifests nothing kept reaches: a
// kept tag points at a manifest, which keeps the manifests it names (an
// index's children) and its referrers (signatures, SBOMs); manifests
// pushed within the grace (an index's children arrive before it) and,
// with KeepWithin, those pushed or pulled by digest within it, are kept
// too. A repository's own retention rules replace its namespace's;
// immutable patterns of both apply.
package retention

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/meta"
)

// Plan is what retention deletes from one repository.
type Plan struct {
	Repository string
	Rules      meta.TagPolicy  // the retention rules applied (Scope and Name say where they are set)
	Tags       []meta.Tag      // the tags to delete, most recently pushed first
	Manifests  []digest.Digest // the manifests to delete, each before those it names
	KeptTags   int
}

// Empty reports whether p deletes nothing.
func (p Plan) Empty() bool { return len(p.Tags)+len(p.Manifests) == 0 }

// Rules are the retention rules that apply to a repository, among its
// policies (its own first): its own when it has any, else its namespace's.
func Rules(policies []meta.TagPolicy) meta.TagPolicy {
	for _, p := range policies {
		if p.Retains() {
			return p
		}
	}
	return meta.TagPolicy{}
}

// Describe says what rules keep, for people and the audit log.
func Describe(p meta.TagPolicy) string {
	var parts []string
	switch {
	case p.KeepLast == 1:
		parts = append(parts, "keep the most recent tag")
	case p.KeepLast > 1:
		parts = append(parts, "keep the "+strconv.Itoa(p.KeepLast)+" most recent tags")
	}
	if p.KeepWithin > 0 {
		parts = append(parts, "keep what was pushed or pulled within "+Days(p.KeepWithin))
	}
	if p.DropUntagged {
		parts = append(parts, "drop untagged manifests")
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}

// Days writes a period of whole days as "N days" (else as a duration).
func Days(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d == day:
		return "1 day"
	case d%day == 0:
		return strconv.FormatInt(int64(d/day), 10) + " days"
	}
	return d.String()
}

// Decide works out what the policies of repo delete from its tags and
// manifests at now; manifests pushed within grace are never dropped.
func Decide(repo string, policies []meta.TagPolicy, tags []meta.Tag, ms []meta.ManifestInfo, now time.Time, grace time.Duration) Plan {
	rules := Rules(policies)
	plan := Plan{Repository: repo, Rules: rules, KeptTags: len(tags)}
	if !rules.Retains() {
		return plan
	}
	pulled := make(map[digest.Digest]time.Time, len(ms))
	for _, m := range ms {
		pulled[m.Digest] = m.PulledAt
	}
	recent := func(t time.Time) bool { return rules.KeepWithin > 0 && !t.IsZero() && now.Sub(t) < rules.KeepWithin }
	byPush := slices.Clone(tags)
	slices.SortStableFunc(byPush, func(a, b meta.Tag) int {
		return cmp.Or(b.UpdatedAt.Compare(a.UpdatedAt), strings.Compare(a.Name, b.Name))
	})
	tagRules := rules.KeepLast > 0 || rules.KeepWithin > 0
	var roots []digest.Digest
	for i, t := range byPush {
		keep := !tagRules || meta.Protecting(policies, repo, t.Name) != nil || i < rules.KeepLast ||
			recent(t.UpdatedAt) || recent(pulled[t.Digest])
		if keep {
			roots = append(roots, t.Digest)
		} else {
			plan.Tags = append(plan.Tags, t)
		}
	}
	plan.KeptTags = len(tags) - len(plan.Tags)
	if rules.DropUntagged {
		for _, m := range ms {
			if now.Sub(m.CreatedAt) < grace || recent(m.CreatedAt) || recent(m.PulledAt) {
				roots = append(roots, m.Digest)
			}
		}
		plan.Manifests = unreached(ms, roots)
	}
	return plan
}

// unreached lists the manifests of ms that roots do not reach through
// children and referrers, each before the manifests it names.
func unreached(ms []meta.ManifestInfo, roots []digest.Digest) []digest.Digest {
	byDigest := make(map[digest.Digest]meta.ManifestInfo, len(ms))
	referrers := map[digest.Digest][]digest.Digest{}
	for _, m := range ms {
		byDigest[m.Digest] = m
		if m.Subject != "" {
			referrers[m.Subject] = append(referrers[m.Subject], m.Digest)
		}
	}
	reached := map[digest.Digest]bool{}
	for len(roots) > 0 {
		d := roots[len(roots)-1]
		roots = roots[:len(roots)-1]
		if reached[d] {
			continue
		}
		reached[d] = true
		roots = append(roots, byDigest[d].Children...)
		roots = append(roots, referrers[d]...)
	}
	// Named by how many doomed manifests: those named by none go first.
	named := map[digest.Digest]int{}
	var doomed []digest.Digest
	for _, m := range ms {
		if !reached[m.Digest] {
			doomed = append(doomed, m.Digest)
			for _, c := range m.Children {
				named[c]++
			}
		}
	}
	var order []digest.Digest
	for len(order) < len(doomed) {
		n := len(order)
		for _, d := range doomed {
			if named[d] == 0 && !slices.Contains(order, d) {
				order = append(order, d)
				named[d] = -1
				for _, c := range byDigest[d].Children {
					named[c]--
				}
			}
		}
		if len(order) == n { // a cycle cannot be pushed; but never loop
			break
		}
	}
	return order
}

// Runner plans and applies retention on a hub.
type Runner struct {
	Meta meta.Store
	// Delete deletes a tag or manifest as the registry API does
	// (distapi.API.Delete), adding details to its audit entry.
	Delete func(ctx context.Context, repo, ref string, details map[string]string) error
	// DeleteUntagged deletes a manifest as Delete does, unless a tag
	// points at it by then (distapi.API.DeleteUntagged).
	DeleteUntagged func(ctx context.Context, repo string, d digest.Digest, details map[string]string) error
	Now            func() time.Time
	Grace          time.Duration // manifests pushed within it are never dropped as untagged
}

// Plan works out what retention would delete from repo now.
func (r *Runner) Plan(ctx context.Context, repo string) (Plan, error) {
	ps, err := r.Meta.PoliciesFor(ctx, repo)
	if err != nil || !Rules(ps).Retains() {
		return Plan{Repository: repo}, err
	}
	tags, _, err := r.Meta.TagList(ctx, repo, meta.TagQuery{N: -1})
	if err != nil {
		return Plan{}, err
	}
	ms, err := r.Meta.ManifestInfos(ctx, repo)
	if err != nil {
		return Plan{}, err
	}
	return Decide(repo, ps, tags, ms, r.Now(), r.Grace), nil
}

// Result is what applying a plan did.
type Result struct {
	Tags, Manifests int // deleted
	Skipped         int // changed meanwhile (gone already, made immutable, named by a new index)
}

// Apply deletes what p lists, through Delete: the tags, then the
// manifests. What changed since p was made is skipped.
func (r *Runner) Apply(ctx context.Context, p Plan) (Result, error) {
	var res Result
	details := map[string]string{"by": "retention", "rules": Describe(p.Rules), "policy": string(p.Rules.Scope) + " " + p.Rules.Name}
	del := func(deleteOne func() error) (bool, error) {
		err := deleteOne()
		var ie *meta.ImmutableError
		var iu *meta.InUseError
		if errdefs.IsNotFound(err) || errors.As(err, &ie) || errors.As(err, &iu) {
			res.Skipped++
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("retention of %s: %w", p.Repository, err)
		}
		return true, nil
	}
	for _, t := range p.Tags {
		ok, err := del(func() error { return r.Delete(ctx, p.Repository, t.Name, details) })
		if err != nil {
			return res, err
		}
		if ok {
			res.Tags++
		}
	}
	// A tag pushed onto a manifest since p was made keeps it: the delete
	// checks that none points at it in its own transaction.
	for _, d := range p.Manifests {
		ok, err := del(func() error { return r.DeleteUntagged(ctx, p.Repository, d, details) })
		if err != nil {
			return res, err
		}
		if ok {
			res.Manifests++
		}
	}
	return res, nil
}

// Repositories lists the repositories a retention rule applies to: those
// with one of their own, and those of a namespace with one.
func (r *Runner) Repositories(ctx context.Context) ([]string, error) {
	ps, err := r.Meta.TagPolicies(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range ps {
		if !p.Retains() {
			continue
		}
		if p.Scope == meta.ScopeRepository {
			out = append(out, p.Name)
			continue
		}
		repos, err := r.InNamespace(ctx, p.Name)
		if err != nil {
			return nil, err
		}
		out = append(out, repos...)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// InNamespace lists the repositories of namespace ns, by name.
func (r *Runner) InNamespace(ctx context.Context, ns string) ([]string, error) {
	repos, _, err := r.Meta.ListRepositories(ctx, meta.RepoFilter{All: true, Query: ns}, meta.Page{N: -1})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, repo := range repos {
		if meta.RuleNamespace(repo.Name) == ns {
			out = append(out, repo.Name)
		}
	}
	return out, nil
}

// Run plans every repository a rule applies to and, unless dryRun,
// applies each plan; it returns the plans that delete something.
func (r *Runner) Run(ctx context.Context, dryRun bool) ([]Plan, Result, error) {
	var total Result
	repos, err := r.Repositories(ctx)
	if err != nil {
		return nil, total, err
	}
	var plans []Plan
	for _, repo := range repos {
		p, err := r.Plan(ctx, repo)
		if err != nil {
			return plans, total, err
		}
		if p.Empty() {
			continue
		}
		plans = append(plans, p)
		if dryRun {
			continue
		}
		res, err := r.Apply(ctx, p)
		total.Tags, total.Manifests, total.Skipped = total.Tags+res.Tags, total.Manifests+res.Manifests, total.Skipped+res.Skipped
		if err != nil {
			return plans, total, err
		}
	}
	return plans, total, nil
}
