package store

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
)

// TestOpenFromManyGoroutines: goroutines (like processes) that open a new
// store at once and write to it at once all succeed; turning a new database
// to WAL would otherwise answer "database is locked" to all but one.
func TestOpenFromManyGoroutines(t *testing.T) {
	for i := 0; i < 5; i++ {
		root := t.TempDir()
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for j := 0; j < 4; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := Open(ctx, root)
				if err != nil {
					errs <- err
					return
				}
				defer s.Close()
				for k := 0; k < 3; k++ {
					layer := tarOf(t, entry{name: "f", body: fmt.Sprint(j, k)})
					if _, err := s.Import(ctx, bytes.NewReader(layer), ImportOptions{Source: "-", Tag: mustTag(fmt.Sprintf("x/%d:%d", j, k))}); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
}
