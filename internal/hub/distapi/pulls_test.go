package distapi

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/strata-dev/strata/internal/hub/meta"
)

// recorder is a catalog that only records pulls, failing when told to.
type recorder struct {
	meta.Catalog
	fail    bool
	batches [][]meta.Pulls
}

func (r *recorder) RecordPulls(_ context.Context, p []meta.Pulls) error {
	if r.fail {
		return errors.New("the database is away")
	}
	r.batches = append(r.batches, p)
	return nil
}

// Pulls counted at once add up per repository into one batch (in name
// order, the latest time kept); a batch the store refused is kept for the
// next flush; nothing counted is no statement.
func TestPullCounter(t *testing.T) {
	rec := &recorder{fail: true}
	c := NewPullCounter(rec)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			repo := []string{"b/x", "a/y"}[i%2]
			c.Count(repo, t0.Add(time.Duration(i)*time.Second))
		}()
	}
	wg.Wait()
	if err := c.Flush(context.Background()); err == nil {
		t.Fatal("a failed flush reported nothing")
	}
	c.Count("a/y", t0)
	rec.fail = false
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []meta.Pulls{{Repo: "a/y", Count: 51, Last: t0.Add(99 * time.Second)}, {Repo: "b/x", Count: 50, Last: t0.Add(98 * time.Second)}}
	if len(rec.batches) != 1 || !slices.Equal(rec.batches[0], want) {
		t.Fatalf("recorded %+v, want one batch %+v", rec.batches, want)
	}
	if err := c.Flush(context.Background()); err != nil || len(rec.batches) != 1 {
		t.Fatalf("an empty flush: %v, %d batches", err, len(rec.batches))
	}
}
