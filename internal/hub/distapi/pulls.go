package distapi

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/hub/meta"
)

// PullsEvery is how often a hub node records the pulls it counted.
const PullsEvery = 10 * time.Second

// PullCounter counts the manifests a node serves (GET by tag or digest,
// not HEAD) per repository, in memory, and records them with Flush: one
// transaction for every repository pulled since the last, so a pull costs
// no database write. What a node counted since its last flush is lost if
// it dies; a graceful shutdown flushes.
type PullCounter struct {
	meta   meta.Catalog
	mu     sync.Mutex
	counts map[string]meta.Pulls
}

// NewPullCounter returns a counter recording into m.
func NewPullCounter(m meta.Catalog) *PullCounter {
	return &PullCounter{meta: m, counts: map[string]meta.Pulls{}}
}

// Count counts one pull of manifest d of repo at time at.
func (c *PullCounter) Count(repo string, d digest.Digest, at time.Time) {
	c.mu.Lock()
	c.add(meta.Pulls{Repo: repo, Count: 1, Last: at, Manifests: []digest.Digest{d}})
	c.mu.Unlock()
}

// add adds p to what is counted of its repository; c.mu is held.
func (c *PullCounter) add(p meta.Pulls) {
	q := c.counts[p.Repo]
	q.Repo, q.Count = p.Repo, q.Count+p.Count
	if p.Last.After(q.Last) {
		q.Last = p.Last
	}
	for _, d := range p.Manifests {
		if !slices.Contains(q.Manifests, d) {
			q.Manifests = append(q.Manifests, d)
		}
	}
	c.counts[p.Repo] = q
}

// Flush records what was counted; what could not be recorded is kept for the next.
func (c *PullCounter) Flush(ctx context.Context) error {
	c.mu.Lock()
	counts := c.counts
	c.counts = map[string]meta.Pulls{}
	c.mu.Unlock()
	if len(counts) == 0 {
		return nil
	}
	batch := make([]meta.Pulls, 0, len(counts))
	for _, p := range counts {
		slices.Sort(p.Manifests)
		batch = append(batch, p)
	}
	slices.SortFunc(batch, func(a, b meta.Pulls) int { return strings.Compare(a.Repo, b.Repo) }) // one lock order on every node
	err := c.meta.RecordPulls(ctx, batch)
	if err != nil {
		c.mu.Lock()
		for _, p := range batch {
			c.add(p)
		}
		c.mu.Unlock()
	}
	return err
}
