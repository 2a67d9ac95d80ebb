package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/access"
	"github.com/strata-dev/strata/internal/hub/distapi"
	"github.com/strata-dev/strata/internal/hub/meta"
	"github.com/strata-dev/strata/internal/hub/retention"
)

// Bounds of the tag rules form.
const (
	maxKeepLast = 10000
	maxKeepDays = 3650
	day         = 24 * time.Hour
)

// rulesForm is the tag rules form as typed: shown again with an error.
type rulesForm struct {
	Immutable    string // patterns, one a line
	KeepLast     string
	KeepDays     string
	DropUntagged bool
}

// formOf is p as the form shows it.
func formOf(p meta.TagPolicy) rulesForm {
	f := rulesForm{Immutable: strings.Join(p.Immutable, "\n"), DropUntagged: p.DropUntagged}
	if p.KeepLast > 0 {
		f.KeepLast = strconv.Itoa(p.KeepLast)
	}
	if p.KeepWithin > 0 {
		f.KeepDays = strconv.Itoa(int((p.KeepWithin + day - 1) / day))
	}
	return f
}

// readRules reads a tag rules form into a policy (its rules only), or
// says what is wrong with it.
func readRules(v url.Values) (rulesForm, meta.TagPolicy, error) {
	f := rulesForm{Immutable: v.Get("immutable"), KeepLast: strings.TrimSpace(v.Get("keep_last")),
		KeepDays: strings.TrimSpace(v.Get("keep_days")), DropUntagged: v.Get("drop_untagged") != ""}
	var p meta.TagPolicy
	bad := func(format string, args ...any) error {
		return fmt.Errorf(format+": %w", append(args, errdefs.ErrInvalidArgument)...)
	}
	for _, pat := range strings.FieldsFunc(f.Immutable, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' || r == ' ' || r == '\t' }) {
		if err := meta.CheckPattern(pat); err != nil {
			return f, p, err
		}
		if !slices.Contains(p.Immutable, pat) {
			p.Immutable = append(p.Immutable, pat)
		}
	}
	if len(p.Immutable) > meta.MaxPatterns {
		return f, p, bad("at most %d immutable tag patterns", meta.MaxPatterns)
	}
	number := func(s, what string, most int) (int, error) {
		if s == "" {
			return 0, nil
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > most {
			return 0, bad("%s %q: want a whole number from 1 to %d, or nothing for no such rule", what, s, most)
		}
		return n, nil
	}
	var err error
	if p.KeepLast, err = number(f.KeepLast, "keep the most recent tags", maxKeepLast); err != nil {
		return f, p, err
	}
	days, err := number(f.KeepDays, "keep what was pushed or pulled within days", maxKeepDays)
	p.KeepWithin, p.DropUntagged = time.Duration(days)*day, f.DropUntagged
	return f, p, err
}

// rulesData is the tag rules page of a repository or a namespace.
type rulesData struct {
	Scope     meta.RuleScope
	Name      string
	Base      string // the page's URL
	Form      rulesForm
	Policy    meta.TagPolicy   // as stored
	Inherited []meta.TagPolicy // a repository's namespace's policy, when it has one
	Plans     []retention.Plan // what retention would delete now
	Rules     string           // the retention rules that apply, described
}

// describe is what the page says of a policy's retention rules.
func describe(p meta.TagPolicy) string { return retention.Describe(p) }

// rulesPage shows the tag rules of scope name, with the dry run of their
// retention; form is shown as typed when errMsg says what is wrong with it.
func (s *site) rulesPage(w http.ResponseWriter, r *http.Request, scope meta.RuleScope, name string, form *rulesForm, errMsg string) {
	ctx := r.Context()
	d := rulesData{Scope: scope, Name: name, Base: rulesURL(scope, name)}
	var err error
	if d.Policy, err = s.Meta.TagPolicy(ctx, scope, name); err != nil {
		s.serverError(w, r, err)
		return
	}
	d.Form = formOf(d.Policy)
	if form != nil {
		d.Form = *form
	}
	repos := []string{name}
	if scope == meta.ScopeRepository {
		ps, err := s.Meta.PoliciesFor(ctx, name)
		if err != nil {
			s.serverError(w, r, err)
			return
		}
		for _, p := range ps {
			if p.Scope == meta.ScopeNamespace {
				d.Inherited = append(d.Inherited, p)
			}
		}
		d.Rules = describe(retention.Rules(ps))
	} else if repos, err = s.Retention.InNamespace(ctx, name); err != nil {
		s.serverError(w, r, err)
		return
	}
	if d.Plans, err = s.plans(ctx, repos); err != nil {
		s.serverError(w, r, err)
		return
	}
	status := http.StatusOK
	if errMsg != "" {
		status = http.StatusBadRequest
	}
	s.render(w, r, status, "tagrules", "Tag rules of "+name, d, errMsg)
}

// maxPlans bounds the repositories a namespace's dry run plans at once.
const maxPlans = 200

// plans is what retention would delete from repos now: those it deletes from.
func (s *site) plans(ctx context.Context, repos []string) ([]retention.Plan, error) {
	var out []retention.Plan
	for _, repo := range repos[:min(len(repos), maxPlans)] {
		p, err := s.Retention.Plan(ctx, repo)
		if err != nil {
			return nil, err
		}
		if !p.Empty() {
			out = append(out, p)
		}
	}
	return out, nil
}

// rulesPost saves the tag rules of scope name (action "tagrules"), or runs
// their retention now ("tagrules/run").
func (s *site) rulesPost(w http.ResponseWriter, r *http.Request, scope meta.RuleScope, name, action string) {
	ctx := r.Context()
	page := rulesURL(scope, name)
	who := visitorOf(ctx).id.User.Name
	switch action {
	case "tagrules":
		form, p, err := readRules(r.PostForm)
		ns := name
		if scope == meta.ScopeRepository {
			ns = meta.RuleNamespace(name)
		}
		if err == nil && len(p.Immutable) > 0 && slices.Contains(s.MirrorPrefixes, ns) {
			err = fmt.Errorf("%s is the pull-through cache's: its tags follow the upstream's, so none can be immutable here (retention rules may still evict what it caches)", name)
		}
		if err != nil {
			s.rulesPage(w, r, scope, name, &form, sentence(err))
			return
		}
		p.Scope, p.Name, p.UpdatedBy, p.UpdatedAt = scope, name, who, time.Now()
		if err := s.Meta.SetTagPolicy(ctx, p); err != nil {
			s.serverError(w, r, err)
			return
		}
		s.record(r, meta.AuditTagRules, name, map[string]string{"scope": string(scope), "immutable": strings.Join(p.Immutable, " "),
			"retention": describe(p)})
		s.back(w, r, page, "Tag rules saved.")
	case "tagrules/run":
		repos := []string{name}
		if scope == meta.ScopeNamespace {
			var err error
			if repos, err = s.Retention.InNamespace(ctx, name); err != nil {
				s.serverError(w, r, err)
				return
			}
		}
		plans, err := s.plans(ctx, repos)
		var total retention.Result
		for _, p := range plans {
			if err != nil {
				break
			}
			var res retention.Result
			res, err = s.Retention.Apply(access.WithSubject(ctx, access.Subject{User: who}), p)
			total.Tags, total.Manifests, total.Skipped = total.Tags+res.Tags, total.Manifests+res.Manifests, total.Skipped+res.Skipped
		}
		if err != nil {
			s.serverError(w, r, err)
			return
		}
		s.record(r, meta.AuditRetentionRun, name, map[string]string{"scope": string(scope),
			"tags": strconv.Itoa(total.Tags), "manifests": strconv.Itoa(total.Manifests)})
		s.back(w, r, page, fmt.Sprintf("Retention deleted %s and %s.", plural(total.Tags, "tag"), plural(total.Manifests, "manifest")))
	default:
		s.notFound(w, r)
	}
}

// rulesURL is the tag rules page of scope name.
func rulesURL(scope meta.RuleScope, name string) string {
	if scope == meta.ScopeNamespace {
		return "/n/" + name + "/tagrules"
	}
	return "/r/" + name + "/-/tagrules"
}

// namespaceRules serves /n/{ns}/tagrules (action "": the page) and its
// forms, to those who may manage the namespace; others see a 404.
func (s *site) namespaceRules(action string) http.HandlerFunc {
	return s.signedIn(func(w http.ResponseWriter, r *http.Request) {
		ns := r.PathValue("ns")
		id := visitorOf(r.Context()).id
		if distapi.CheckName(ns) != nil || strings.Contains(ns, "/") {
			s.notFound(w, r)
			return
		}
		ok, err := s.Auth.May(r.Context(), id, ns, access.ManageNamespace)
		switch {
		case err != nil:
			s.serverError(w, r, err)
		case !ok:
			s.notFound(w, r)
		case action == "":
			s.rulesPage(w, r, meta.ScopeNamespace, ns, nil, "")
		default:
			s.rulesPost(w, r, meta.ScopeNamespace, ns, action)
		}
	})
}
