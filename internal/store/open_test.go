package store

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
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

// TestOpenIsPrivate: a new store is its owner's alone (mode 0700, the
// database 0600), and opening a store an older strata left open to others
// tightens it.
func TestOpenIsPrivate(t *testing.T) {
	for _, before := range []os.FileMode{0, 0o711, 0o755, 0o777} {
		root := filepath.Join(t.TempDir(), "store")
		if before != 0 {
			if err := os.Mkdir(root, before); err != nil {
				t.Fatal(err)
			}
			os.Chmod(root, before)
			if err := os.WriteFile(filepath.Join(root, "strata.db"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		s, err := Open(ctx, root)
		if err != nil {
			t.Fatal(err)
		}
		layer := tarOf(t, entry{name: "f", body: "x"})
		if _, err := s.Import(ctx, bytes.NewReader(layer), ImportOptions{Source: "-", Tag: mustTag("x/y:1")}); err != nil {
			t.Fatal(err)
		}
		s.Close()
		for name, want := range map[string]os.FileMode{".": 0o700, "strata.db": 0o600} {
			fi, err := os.Stat(filepath.Join(root, name))
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != want {
				t.Errorf("store made %o before: %s is mode %o, want %o", before, name, got, want)
			}
		}
	}
}
