package hub_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-dev/strata/internal/hub"
	"github.com/strata-dev/strata/internal/testutil"
)

// With redirects on, a blob GET is a 307 to a presigned URL of the object
// store, which serves the blob; a blob of another repository is not
// redirected to; and every client people use follows the redirect (the hub
// itself no longer serves the bytes, so a pull that verifies its layers
// proves it).
func TestRedirectClients(t *testing.T) {
	h := testutil.StartHub(t, testutil.OnEngines(t, hub.Config{Redirect: true}))
	img := randomImage(t, 2)
	push(t, h.Addr+"/redir/img:1", img)
	layer := seed(t, img).Layer

	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(h.URL() + "/v2/redir/img/blobs/" + layer.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusTemporaryRedirect || !strings.Contains(loc, "X-Amz-Signature=") || strings.Contains(loc, h.Addr) {
		t.Fatalf("blob GET: %d, Location %q; want a 307 to a presigned URL of the store", resp.StatusCode, loc)
	}
	if r := call(t, "GET", h.URL()+"/v2/other/repo/blobs/"+layer.String(), "", nil); r.Status != 404 {
		t.Fatalf("a blob through a repository without it: %d", r.Status)
	}
	if r := call(t, "HEAD", h.URL()+"/v2/redir/img/blobs/"+layer.String(), "", nil); r.Status != 200 {
		t.Fatalf("HEAD of a blob: %d (served by the hub, not redirected)", r.Status)
	}

	ref := h.Addr + "/redir/img:1"
	t.Run("crane", func(t *testing.T) {
		testutil.Run(t, nil, testutil.Tool(t, "crane"), "pull", ref, filepath.Join(t.TempDir(), "img.tar"))
	})
	t.Run("oras", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "layer")
		testutil.Run(t, nil, testutil.Tool(t, "oras"), "blob", "fetch", "--plain-http", "--output", out, h.Addr+"/redir/img@"+layer.String())
		if fi, err := os.Stat(out); err != nil || fi.Size() == 0 {
			t.Fatalf("oras fetched nothing: %v", err)
		}
	})
	t.Run("skopeo", func(t *testing.T) {
		testutil.Run(t, nil, testutil.Tool(t, "skopeo"), "copy", "--src-tls-verify=false", "docker://"+ref,
			"oci:"+filepath.Join(t.TempDir(), "layout")+":x")
	})
	t.Run("podman", func(t *testing.T) {
		p := testutil.NewPodman(t)
		p.Run(t, "pull", "--tls-verify=false", ref)
	})
	t.Run("docker", func(t *testing.T) {
		d := testutil.StartDocker(t)
		d.Run(t, "pull", ref)
	})
}
