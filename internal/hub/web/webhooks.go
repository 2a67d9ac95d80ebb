package web

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/meta"
	"github.com/strata-dev/strata/internal/hub/webhook"
)

// hookView is a hook with its latest deliveries, for the repository page.
type hookView struct {
	Hook       meta.Hook
	Deliveries []meta.Delivery
}

// deliveriesShown is how many of each hook's deliveries the page lists.
const deliveriesShown = 10

// maxHooks bounds a repository's hooks.
const maxHooks = 20

// hooksOf lists the hooks on what on names (a repository or an organization).
func (s *site) hooksOf(ctx context.Context, on meta.Hook) ([]meta.Hook, error) {
	if on.Org != "" {
		return s.Meta.OrgHooks(ctx, on.Org)
	}
	return s.Meta.Hooks(ctx, on.Repository)
}

func (s *site) hookViews(ctx context.Context, on meta.Hook) ([]hookView, error) {
	hooks, err := s.hooksOf(ctx, on)
	if err != nil {
		return nil, err
	}
	out := make([]hookView, len(hooks))
	for i, h := range hooks {
		out[i].Hook = h
		if out[i].Deliveries, err = s.Meta.Deliveries(ctx, h.ID, deliveriesShown); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// hookForm runs the webhook forms of a repository's page or an
// organization's settings (their managers only) for what on names: add
// one, delete one, send a delivery again. It returns what to tell the visitor.
func (s *site) hookForm(r *http.Request, on meta.Hook, action string) (string, error) {
	ctx := r.Context()
	f := r.PostForm
	id, _ := strconv.ParseInt(f.Get("id"), 10, 64)
	target, details := on.Repository, map[string]string{"repository": on.Repository}
	if on.Org != "" {
		target, details = on.Org, map[string]string{"org": on.Org}
	}
	switch action {
	case "webhooks/delete":
		err := s.Meta.DeleteHook(ctx, on.Repository, id)
		if on.Org != "" {
			err = s.Meta.DeleteOrgHook(ctx, on.Org, id)
		}
		if err != nil {
			return "", err
		}
		details["id"] = f.Get("id")
		s.record(r, meta.AuditHookDelete, target, details)
		return "Webhook deleted.", nil
	case "webhooks/redeliver":
		n, err := s.Webhooks.Redeliver(ctx, on, id)
		if err != nil {
			return "", err
		}
		return "Delivery " + f.Get("id") + " is being sent again as delivery " + strconv.FormatInt(n, 10) + ".", nil
	}
	u := strings.TrimSpace(f.Get("url"))
	if err := s.Webhooks.CheckURL(ctx, u); err != nil {
		return "", err
	}
	var events []string
	for _, e := range f["events"] {
		if slices.Contains(webhook.Events, e) && !slices.Contains(events, e) {
			events = append(events, e)
		}
	}
	if len(events) == 0 {
		return "", fmt.Errorf("pick at least one event: %w", errdefs.ErrInvalidArgument)
	}
	if hooks, err := s.hooksOf(ctx, on); err != nil || len(hooks) >= maxHooks {
		if err == nil {
			err = fmt.Errorf("at most %d webhooks each: %w", maxHooks, errdefs.ErrInvalidArgument)
		}
		return "", err
	}
	secret, made := f.Get("secret"), false
	if secret == "" {
		secret, made = webhook.NewSecret(), true
	}
	if len(secret) > 200 {
		return "", fmt.Errorf("keep the secret under 200 characters: %w", errdefs.ErrInvalidArgument)
	}
	h := on
	h.URL, h.Secret, h.Events, h.CreatedBy, h.CreatedAt = u, secret, events, visitorOf(ctx).id.User.Name, time.Now()
	if _, err := s.Meta.CreateHook(ctx, h); err != nil {
		return "", err
	}
	details["url"], details["events"] = u, strings.Join(events, ",")
	s.record(r, meta.AuditHookCreate, target, details)
	if made {
		return "Webhook added. Its secret, shown only now: " + secret, nil
	}
	return "Webhook added.", nil
}
