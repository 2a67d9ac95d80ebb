package store

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distribution/reference"

	"github.com/strata-dev/strata/internal/image"
)

// TestMain lets the test binary play a second strata process on one store.
func TestMain(m *testing.M) {
	if role := os.Getenv("STRATA_STORE_WORKER"); role != "" {
		if err := worker(role, os.Getenv("STRATA_STORE_ROOT")); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const perWorker = 15

// worker is one process: "import N" imports and tags images (each with a
// layer shared by all workers and one of its own); "gc" prunes until the
// file "stop" appears.
func worker(role, root string) error {
	s, err := Open(ctx, root)
	if err != nil {
		return err
	}
	defer s.Close()
	if role == "gc" {
		for {
			if _, err := s.Prune(ctx, false); err != nil {
				return fmt.Errorf("prune: %w", err)
			}
			if _, err := os.Stat(root + "/stop"); err == nil {
				return nil
			}
		}
	}
	n, _ := strconv.Atoi(strings.TrimPrefix(role, "import "))
	shared := tarOf(&testing.T{}, entry{name: "shared", body: strings.Repeat("s", 50_000)})
	for i := 0; i < perWorker; i++ {
		own := tarOf(&testing.T{}, entry{name: "own", body: fmt.Sprintf("worker %d image %d", n, i)})
		for j, layer := range [][]byte{shared, own} {
			tag := fmt.Sprintf("w%d/img%d:%d", n, i, j)
			if _, err := s.Import(ctx, bytes.NewReader(layer), ImportOptions{Source: tag, Tag: mustTag(tag)}); err != nil {
				return fmt.Errorf("import %s: %w", tag, err)
			}
		}
		// Retag and untag: writes that race other processes' writes.
		if _, err := s.Remove(ctx, fmt.Sprintf("w%d/img%d:0", n, i), false); err != nil {
			return fmt.Errorf("rm: %w", err)
		}
	}
	return nil
}

// TestConcurrentProcesses: several processes create one store at once, then
// import, tag and remove on it while another prunes and collects garbage;
// nothing fails and nothing is lost.
func TestConcurrentProcesses(t *testing.T) {
	root := t.TempDir() // no store yet: the processes race to create it too
	run := func(role string) error {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "STRATA_STORE_WORKER="+role, "STRATA_STORE_ROOT="+root)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %v\n%s", role, err, out)
		}
		return nil
	}
	const workers = 4
	var wg sync.WaitGroup
	errs := make(chan error, workers+1)
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func(i int) { defer wg.Done(); errs <- run(fmt.Sprintf("import %d", i)) }(i)
	}
	gcDone := make(chan error, 1)
	go func() { gcDone <- run("gc") }()
	wg.Wait()
	os.WriteFile(root+"/stop", nil, 0o644)
	select {
	case err := <-gcDone:
		errs <- err
	case <-time.After(2 * time.Minute):
		t.Fatal("gc worker did not stop")
	}
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	s, err := Open(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	imgs, err := s.Images(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tags := 0
	for _, img := range imgs {
		tags += len(img.Tags)
	}
	// Each worker keeps its own-layer image per round; the shared-layer
	// images were untagged, and pruned once dangling.
	if tags != workers*perWorker {
		t.Fatalf("%d tags in the store, want %d", tags, workers*perWorker)
	}
	for i := 0; i < workers; i++ {
		for j := 0; j < perWorker; j++ {
			if _, err := s.Resolve(ctx, fmt.Sprintf("w%d/img%d:1", i, j)); err != nil {
				t.Fatalf("lost update: %v", err)
			}
		}
	}
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Prune(ctx, false); err != nil {
		t.Fatal(err)
	}
	if n, _ := blobCount(t, s); n != 3*workers*perWorker {
		t.Fatalf("%d blobs after the last prune, want %d (layer, config, manifest of each image)", n, 3*workers*perWorker)
	}
}

func mustTag(s string) reference.NamedTagged {
	r, err := image.ParseTag(s)
	if err != nil {
		panic(err)
	}
	return r
}
