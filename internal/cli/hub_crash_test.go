package cli

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/strata-dev/strata/internal/testutil"
)

// startHubProcess runs `strata hub serve --open` as a process of its own,
// on dir, and waits until it answers.
func startHubProcess(t *testing.T, dir, addr string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "hub", "serve", "--open", "--addr", addr, "--data-dir", dir, "--gc-interval", "-1s")
	cmd.Env = append(os.Environ(), asCLI+"=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitHTTP(t, http.DefaultClient, "http://"+addr+"/v2/")
	return cmd
}

// A crash is a normal event: kill -9 of a real `strata hub serve` while
// clients push images that share layers, then a restart on the same data,
// several rounds. Every push the hub acknowledged reads back byte for
// byte, and every push the crash interrupted succeeds at once when it is
// sent again, with no retry: nothing the dead hub held (a pending blob, an
// upload) stands in its way.
func TestHubCrash(t *testing.T) {
	dir, addr := filepath.Join(t.TempDir(), "data"), testutil.FreeAddr(t)
	bases := make([]v1.Layer, 4)
	for i := range bases {
		bases[i] = testutil.RandomLayer(512 << 10)
	}
	type push struct {
		ref string
		img v1.Image
	}
	var acked []push
	for round := range 5 {
		hubProc := startHubProcess(t, dir, addr)
		ctx, cancel := context.WithCancel(context.Background())
		var mu sync.Mutex
		var interrupted []push
		var wg sync.WaitGroup
		first := make(chan struct{}, 8)
		for w := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ctx.Err() == nil; i++ {
					img, _ := mutate.AppendLayers(empty.Image, bases[(w+i)%len(bases)], testutil.RandomLayer(256<<10))
					p := push{fmt.Sprintf("%s/crash/w%d:r%d-%d", addr, w, round, i), img}
					r, _ := name.ParseReference(p.ref)
					err := remote.Write(r, img, remote.WithContext(ctx))
					mu.Lock()
					if err == nil {
						acked = append(acked, p)
					} else {
						interrupted = append(interrupted, p)
					}
					mu.Unlock()
					select {
					case first <- struct{}{}:
					default:
					}
				}
			}()
		}
		for range 6 { // some pushes are done, others are in flight
			<-first
		}
		hubProc.Process.Signal(syscall.SIGKILL)
		hubProc.Wait()
		cancel()
		wg.Wait()

		startHubProcess(t, dir, addr)
		for _, p := range acked {
			if err := testutil.SameImage(p.ref, p.img); err != nil {
				t.Fatalf("round %d: acknowledged push %s after the crash: %v", round, p.ref, err)
			}
		}
		for _, p := range interrupted {
			r, _ := name.ParseReference(p.ref)
			if err := remote.Write(r, p.img, remote.WithRetryBackoff(remote.Backoff{Steps: 1})); err != nil {
				t.Fatalf("round %d: pushing %s again after the crash: %v", round, p.ref, err)
			}
			if err := testutil.SameImage(p.ref, p.img); err != nil {
				t.Fatalf("round %d: %s pushed again: %v", round, p.ref, err)
			}
		}
		t.Logf("round %d: %d pushes acknowledged so far, %d interrupted and pushed again", round, len(acked), len(interrupted))
	}
}
