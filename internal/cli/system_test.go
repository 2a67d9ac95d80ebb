package cli

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// dfOf measures root as system df does, in bytes.
func dfOf(t *testing.T, a *app) map[string]dfRow {
	t.Helper()
	r, err := a.diskUsage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]dfRow{}
	for _, row := range r.rows() {
		out[row.kind] = row
	}
	return out
}

// TestDiskUsageIsWhatPruneFrees fills a store with images, containers and a
// multi-stage build, and checks that each RECLAIMABLE of system df is what
// its prune then frees, to the byte: image prune -a (blobs and unpacked
// layers), container prune, builder prune.
func TestDiskUsageIsWhatPruneFrees(t *testing.T) {
	root := busyboxRoot(t, "")
	mustStrata(t, root, "run", "-d", "--name", "up", "busybox:test", "sleep", "600")
	mustStrata(t, root, "run", "--name", "down", "busybox:test", "sh", "-c", "head -c 300000 /dev/urandom > /big")
	mustStrata(t, root, "commit", "down", "committed:1")
	mustBuild(t, root, "-t", "built:1", writeContext(t, map[string]string{"Dockerfile": `FROM busybox:test AS stage
RUN head -c 200000 /dev/urandom > /stage
FROM busybox:test
COPY --from=stage /stage /copied
RUN echo built > /built
ENV X=1
`}))

	out := mustStrata(t, root, "system", "df")
	for _, want := range []string{"TYPE ", "RECLAIMABLE", "\nImages ", "\nUnpacked Layers ", "\nContainers ", "\nBuild Cache "} {
		if !strings.Contains(out, want) {
			t.Errorf("system df lacks %q:\n%s", want, out)
		}
	}
	var types []string
	for _, line := range strings.Split(strings.TrimSpace(mustStrata(t, root, "system", "df", "--format", "json")), "\n") {
		var row map[string]string
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			t.Fatalf("--format json: %v: %s", err, line)
		}
		types = append(types, row["Type"]+"="+row["TotalCount"]+"/"+row["Active"])
	}
	if got := strings.Join(types, " "); got != "Images=3/1 Unpacked Layers=7/2 Containers=2/1 Build Cache=4/2" {
		// busybox, its init layer, and what the commit and the build added:
		// 3 layers, 1 init layer, and the stage's layer, which nothing needs.
		t.Errorf("df --format json counts %s", got)
	}
	verbose := mustStrata(t, root, "system", "df", "-v")
	for _, want := range []string{"Images space usage:", "committed    1", "Unpacked layers space usage:", "nothing",
		"Containers space usage:", "   down\n", "Build cache usage: ", "CACHE ID", "layer"} {
		if !strings.Contains(verbose, want) {
			t.Errorf("system df -v lacks %q:\n%s", want, verbose)
		}
	}

	a := &app{Streams: Streams{Out: io.Discard, Err: io.Discard}, getenv: os.Getenv, root: root, logLevel: "warn"}
	if err := a.setup(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	before := dfOf(t, a)
	if n := before["Unpacked Layers"].reclaimable; n < 300_000 {
		t.Errorf("unpacked layers reclaimable %d, want at least the committed layer's 300 kB", n)
	}
	s, err := a.openStore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	removed, err := s.Prune(ctx, true) // image prune -a
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	if want := before["Images"].reclaimable + before["Unpacked Layers"].reclaimable; removed.Freed != want {
		t.Errorf("image prune -a freed %d bytes, df said %d (blobs %d, unpacked %d)", removed.Freed, want,
			before["Images"].reclaimable, before["Unpacked Layers"].reclaimable)
	}

	before = dfOf(t, a)
	if before["Images"].reclaimable != 0 || before["Unpacked Layers"].reclaimable != 0 {
		t.Errorf("after image prune -a, df still finds %d and %d bytes to reclaim", before["Images"].reclaimable,
			before["Unpacked Layers"].reclaimable)
	}
	s, m, err := a.containers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pruned, err := m.Prune(ctx) // container prune
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	if want := before["Containers"].reclaimable; pruned.Bytes != want || want < 300_000 {
		t.Errorf("container prune freed %d bytes, df said %d (the stopped container wrote 300 kB)", pruned.Bytes, want)
	}

	before = dfOf(t, a)
	s, err = a.openStore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cache, err := s.PruneCache(ctx, time.Time{}) // builder prune
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	if want := before["Build Cache"].reclaimable; cache.Freed != want || want < 200_000 {
		t.Errorf("builder prune freed %d bytes, df said %d (the build cache kept 200 kB of random bytes)", cache.Freed, want)
	}
	after := dfOf(t, a)
	if after["Build Cache"].total != 0 || after["Containers"].total != 1 || after["Images"].total != 1 {
		t.Errorf("after the prunes df counts %+v", after)
	}
}
