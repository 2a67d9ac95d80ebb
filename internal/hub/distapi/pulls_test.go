package distapi

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

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
	man := []digest.Digest{digest.FromString("0"), digest.FromString("1"), digest.FromString("2"), digest.FromString("3")}
	sorted := func(a, b digest.Digest) []digest.Digest { return slices.Sorted(slices.Values([]digest.Digest{a, b})) }
	c := NewPullCounter(rec)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			repo := []string{"b/x", "a/y"}[i%2]
			c.Count(repo, man[i%4], t0.Add(time.Duration(i)*time.Second))
		}()
	}
	wg.Wait()
	if err := c.Flush(context.Background()); err == nil {
		t.Fatal("a failed flush reported nothing")
	}
	c.Count("a/y", man[1], t0)
	rec.fail = false
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []meta.Pulls{{Repo: "a/y", Count: 51, Last: t0.Add(99 * time.Second), Manifests: sorted(man[1], man[3])},
		{Repo: "b/x", Count: 50, Last: t0.Add(98 * time.Second), Manifests: sorted(man[0], man[2])}}
	if len(rec.batches) != 1 || !reflect.DeepEqual(rec.batches[0], want) {
		t.Fatalf("recorded %+v, want one batch %+v", rec.batches, want)
	}
	if err := c.Flush(context.Background()); err != nil || len(rec.batches) != 1 {
		t.Fatalf("an empty flush: %v, %d batches", err, len(rec.batches))
	}
}
