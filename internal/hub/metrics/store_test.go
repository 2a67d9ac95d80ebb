package metrics

import (
	"context"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/hub/storage"
)

// Kinds of driver, by the optional interfaces they have (only their
// method sets matter here).
type plain struct{ storage.Driver }
type exact struct{ storage.Driver }
type redirecting struct{ storage.Driver }
type both struct{ storage.Driver }

func (exact) CommitsExactly() {}
func (both) CommitsExactly()  {}
func (redirecting) URL(context.Context, digest.Digest, time.Duration) (string, error) {
	return "", nil
}
func (both) URL(context.Context, digest.Digest, time.Duration) (string, error) { return "", nil }

// Counting a driver keeps what else it is: the Store asks a driver whether
// it redirects and whether it commits exactly, and must get the same answer.
func TestDriverKeepsItsInterfaces(t *testing.T) {
	m := New()
	for _, d := range []storage.Driver{plain{}, exact{}, redirecting{}, both{}} {
		_, r1 := d.(storage.Redirector)
		_, e1 := d.(storage.ExactCommitter)
		w := m.Driver(d)
		_, r2 := w.(storage.Redirector)
		_, e2 := w.(storage.ExactCommitter)
		if r1 != r2 || e1 != e2 {
			t.Errorf("%T: redirects %v, commits exactly %v; counted: %v, %v", d, r1, e1, r2, e2)
		}
	}
}
