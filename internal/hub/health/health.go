// Package health answers the questions a load balancer asks a hub node:
// /healthz, is the process alive and serving HTTP; /readyz, should it be
// sent requests now: its database and object store answer, and it is not
// shutting down. A node that is draining (Drain) stays healthy but not
// ready, so the balancer moves new requests to other nodes while the ones
// in flight finish.
package health

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// HealthzPath and ReadyzPath are where a hub answers.
	HealthzPath = "/healthz"
	ReadyzPath  = "/readyz"

	// checkTimeout bounds one check; cacheFor is how long a result is
	// reused, so that balancers asking often cost the engines little.
	checkTimeout = 2 * time.Second
	cacheFor     = time.Second
)

// Check is one thing a node needs to serve: nil when it answers.
type Check struct {
	Name string
	Fn   func(context.Context) error
}

// Checker runs the checks and answers the health endpoints.
type Checker struct {
	checks   []Check
	draining atomic.Bool

	mu      sync.Mutex
	checked time.Time
	failed  []string // "name: error" of the last run
}

// New returns a checker of checks.
func New(checks ...Check) *Checker { return &Checker{checks: checks} }

// Drain makes /readyz answer 503 from now on: the node is shutting down.
func (c *Checker) Drain() { c.draining.Store(true) }

// Draining reports whether Drain was called.
func (c *Checker) Draining() bool { return c.draining.Load() }

// Ready runs the checks (or reuses a result less than a second old) and
// returns what failed; none when the node is ready.
func (c *Checker) Ready(ctx context.Context) []string {
	if c.Draining() {
		return []string{"shutting down"}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.checked) < cacheFor {
		return c.failed
	}
	failed := make([]string, len(c.checks))
	var wg sync.WaitGroup
	for i, ch := range c.checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, checkTimeout)
			defer cancel()
			if err := ch.Fn(ctx); err != nil {
				failed[i] = fmt.Sprintf("%s: %v", ch.Name, err)
			}
		}()
	}
	wg.Wait()
	c.failed = nil // a new slice: callers may hold the last one
	for _, f := range failed {
		if f != "" {
			c.failed = append(c.failed, f)
		}
	}
	c.checked = time.Now()
	return c.failed
}

// ServeHTTP answers HealthzPath and ReadyzPath; other paths are 404.
func (c *Checker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	switch r.URL.Path {
	case HealthzPath:
		fmt.Fprintln(w, "ok")
	case ReadyzPath:
		if failed := c.Ready(r.Context()); len(failed) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready: "+strings.Join(failed, "; "))
			return
		}
		fmt.Fprintln(w, "ok")
	default:
		http.NotFound(w, r)
	}
}
