package hub_test

import (
	"bytes"
	"crypto/rand"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/hub"
	"github.com/strata-dev/strata/internal/testutil"
)

// servedDigest fetches a blob and returns the digest of what came back
// ("" when it is not served).
func servedDigest(t *testing.T, url string) digest.Digest {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return ""
	}
	b, _ := io.ReadAll(resp.Body)
	return digest.FromBytes(b)
}

// Two PATCH requests on one upload at once, one stalled mid-body, then a
// PUT ?digest= with no body: whatever interleaving the hub allows, the
// bytes it serves under a digest hash to that digest, and a later honest
// push of the content is served whole.
func TestUploadPoisoning(t *testing.T) {
	h := testutil.StartHub(t, hub.Config{})
	base := h.URL()
	honest := make([]byte, 3<<20)
	rand.Read(honest)
	want := digest.FromBytes(honest)
	garbage := bytes.Repeat([]byte("A"), 1<<20)

	start := do(t, "POST", base+"/v2/evil/layer/blobs/uploads/", nil, nil)
	loc := start.Header.Get("Location")
	if start.StatusCode != 202 || loc == "" {
		t.Fatalf("start: %d", start.StatusCode)
	}
	id := loc[strings.LastIndex(loc, "/")+1:]
	staged := filepath.Join(h.Dir, "content", "uploads", id)

	// A: one MiB of garbage, then it stalls with the request open.
	pr, pw := io.Pipe()
	stalledDone := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("PATCH", base+loc, pr)
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			stalledDone <- 0
			return
		}
		resp.Body.Close()
		stalledDone <- resp.StatusCode
	}()
	pw.Write(garbage)
	testutil.WaitFor(5*time.Second, func() bool {
		fi, err := os.Stat(staged)
		return err == nil && fi.Size() >= int64(len(garbage))
	})
	// B: the whole honest content, complete, while A is open.
	b := do(t, "PATCH", base+loc, map[string]string{"Content-Type": "application/octet-stream"}, honest)
	t.Logf("the second PATCH while the first is open: %d", b.StatusCode)
	// A goes on: another MiB of garbage, which lands somewhere in the file.
	pw.Write(garbage)
	testutil.WaitFor(5*time.Second, func() bool {
		f, err := os.ReadFile(staged)
		return err == nil && len(f) >= 2<<20 && bytes.Equal(f[1<<20:2<<20], garbage)
	})
	// The PUT with no body names the honest content's digest.
	put := do(t, "PUT", base+loc+"?digest="+want.String(), nil, nil)
	t.Logf("PUT ?digest= while the first PATCH is open: %d", put.StatusCode)
	pw.Close()
	<-stalledDone
	put = do(t, "PUT", base+loc+"?digest="+want.String(), nil, nil)
	t.Logf("PUT ?digest= once it ended: %d", put.StatusCode)

	blobURL := base + "/v2/evil/layer/blobs/" + want.String()
	if got := servedDigest(t, blobURL); got != "" && got != want {
		t.Fatalf("the hub serves content hashing to %s under %s", got, want)
	}
	// An honest push of the same content afterwards, elsewhere: served whole.
	honestPush := do(t, "POST", base+"/v2/honest/app/blobs/uploads/?digest="+want.String(), nil, honest)
	if honestPush.StatusCode != 201 {
		t.Fatalf("honest push: %d", honestPush.StatusCode)
	}
	for _, u := range []string{base + "/v2/honest/app/blobs/" + want.String(), blobURL} {
		if got := servedDigest(t, u); got != "" && got != want {
			t.Fatalf("%s serves content hashing to %s", u, got)
		}
	}
	if got := servedDigest(t, base+"/v2/honest/app/blobs/"+want.String()); got != want {
		t.Fatalf("the honest push is not served: %q", got)
	}
}
