package hub

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/audit"
	"github.com/strata-dev/strata/internal/hub/auth"
	"github.com/strata-dev/strata/internal/hub/distapi"
	"github.com/strata-dev/strata/internal/hub/health"
	"github.com/strata-dev/strata/internal/hub/metrics"
)

// MetricsPath is where a node's Prometheus metrics are.
const MetricsPath = "/metrics"

// observed is next behind what operators and load balancers ask a node:
// /healthz, /readyz and /metrics, and with every request counted.
func observed(deps Deps, next http.Handler) http.Handler {
	return deps.Metrics.Middleware(routeOf, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case health.HealthzPath, health.ReadyzPath:
			deps.Health.ServeHTTP(w, r)
		case MetricsPath:
			deps.Metrics.Handler().ServeHTTP(w, r)
		default:
			next.ServeHTTP(w, r)
		}
	}))
}

// routeOf names the endpoint a request is for, for the metrics: an API
// path's kind, or the service outside the API.
func routeOf(r *http.Request) string {
	switch p := r.URL.Path; {
	case p == "/v2" || strings.HasPrefix(p, "/v2/") || p == distapi.SearchPath:
		parsed, err := distapi.ParsePath(r.URL.EscapedPath())
		if err != nil {
			return "invalid"
		}
		return parsed.Kind.String()
	case p == auth.TokenPath:
		return "token"
	case p == auth.JWKSPath:
		return "jwks"
	case p == health.HealthzPath, p == health.ReadyzPath:
		return strings.TrimPrefix(p, "/")
	case p == MetricsPath:
		return "metrics"
	}
	return "web"
}

// withObservers fills in what deps lacks to be observed: metrics, and
// readiness checks of its database and object store.
func withObservers(deps Deps) Deps {
	if deps.Metrics == nil {
		deps.Metrics = metrics.New()
	}
	if deps.Pulls == nil {
		deps.Pulls = distapi.NewPullCounter(deps.Meta)
	}
	if deps.Audit == nil {
		deps.Audit = audit.New(deps.Meta, deps.Log, deps.Metrics.AuditWrite)
	}
	if deps.Health == nil {
		deps.Health = health.New(
			health.Check{Name: "database", Fn: func(ctx context.Context) error {
				_, err := deps.Meta.Setting(ctx, "readyz")
				return err
			}},
			health.Check{Name: "object store", Fn: func(ctx context.Context) error {
				return storeAnswers(ctx, deps)
			}})
	}
	return deps
}

// storeAnswers asks the object store for a blob that is not there (a
// random digest, so no cache answers): "not found" is an answer.
func storeAnswers(ctx context.Context, deps Deps) error {
	_, err := deps.Blobs.Driver().Stat(ctx, digest.FromString(time.Now().String()))
	if errdefs.IsNotFound(err) {
		return nil
	}
	return err
}

// drain shuts srv down gracefully: the node stops being ready (load
// balancers move new requests elsewhere) and keeps serving for delay,
// then stops taking requests and waits up to timeout for those in flight
// (uploads included) to finish.
func drain(srv *http.Server, deps Deps, delay, timeout time.Duration) error {
	deps.Health.Drain()
	if delay > 0 {
		deps.Log.Info("draining: not ready, serving on", "for", delay)
		time.Sleep(delay)
	}
	srv.SetKeepAlivesEnabled(false)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := srv.Shutdown(ctx)
	if err != nil {
		deps.Log.Warn("requests still in flight after the shutdown timeout were cut", "timeout", timeout)
	}
	return err
}
