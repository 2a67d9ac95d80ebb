package hub

import (
	"context"

	"github.com/strata-dev/strata/internal/hub/distapi"
)

// RouteKeys lists every endpoint as "METHOD kind", so that the access
// table test can show it covers them all.
func RouteKeys() []string {
	var keys []string
	for _, rt := range routes(&distapi.API{}) {
		keys = append(keys, rt.method+" "+rt.kind.String())
	}
	return keys
}

// ScrubPass runs (or goes on with) one pass of the online scrub.
func ScrubPass(ctx context.Context, rate int64, deps Deps) error { return scrubPass(ctx, rate, deps) }

// RetentionPass runs retention under its lease when it is due.
func RetentionPass(ctx context.Context, cfg Config, deps Deps) error {
	return retentionPass(ctx, cfg, deps)
}
