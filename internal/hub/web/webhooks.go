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

func (s *site) hookViews(ctx context.Context, repo string) ([]hookView, error) {
	hooks, err := s.Meta.Hooks(ctx, repo)
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

// hookForm runs the webhook forms of repo's page (its managers only):
// add one, delete one, send a delivery again. It returns what to tell the visitor.
func (s *site) hookForm(r *http.Request, repo, action string) (string, error) {
	ctx := r.Context()
	f := r.PostForm
	id, _ := strconv.ParseInt(f.Get("id"), 10, 64)
	switch action {
	case "webhooks/delete":
		if err := s.Meta.DeleteHook(ctx, repo, id); err != nil {
			return "", err
		}
		s.record(r, meta.AuditHookDelete, repo, map[string]string{"repository": repo, "id": f.Get("id")})
		return "Webhook deleted.", nil
	case "webhooks/redeliver":
		n, err := s.Webhooks.Redeliver(ctx, repo, id)
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
	if hooks, err := s.Meta.Hooks(ctx, repo); err != nil || len(hooks) >= maxHooks {
		if err == nil {
			err = fmt.Errorf("a repository has at most %d webhooks: %w", maxHooks, errdefs.ErrInvalidArgument)
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
	_, err := s.Meta.CreateHook(ctx, meta.Hook{Repository: repo, URL: u, Secret: secret, Events: events,
		CreatedBy: visitorOf(ctx).id.User.Name, CreatedAt: time.Now()})
	if err != nil {
		return "", err
	}
	s.record(r, meta.AuditHookCreate, repo, map[string]string{"repository": repo, "url": u, "events": strings.Join(events, ",")})
	if made {
		return "Webhook added. Its secret, shown only now: " + secret, nil
	}
	return "Webhook added.", nil
}
