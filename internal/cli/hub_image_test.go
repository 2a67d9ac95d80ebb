package cli

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-dev/strata/internal/testutil"
)

// The hub's own container image: deploy/image/build.sh builds it with
// `strata build` from deploy/image/Dockerfile, and the image serves the
// hub (its /healthz answers) as the user it names, not root.
func TestHubImage(t *testing.T) {
	testutil.RequireRoot(t)
	root := t.TempDir()
	script := filepath.Join(testutil.ModuleRoot(), "deploy", "image", "build.sh")
	cmd := exec.Command(script, "strata-hub:test")
	cmd.Env = append(os.Environ(), "STRATA_ROOT="+root)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	if out := mustStrata(t, root, "run", "--rm", "--network", "none", "strata-hub:test", "--help"); !strings.Contains(out, "Serve the OCI distribution API") {
		t.Fatalf("strata hub serve --help in the image printed:\n%s", out)
	}
	addr := testutil.FreeAddr(t)
	id := strings.TrimSpace(mustStrata(t, root, "run", "-d", "--network", "host", "strata-hub:test",
		"--addr", addr, "--data-dir", "/var/lib/strata/hub", "--open"))
	t.Cleanup(func() { strata(t, root, nil, "rm", "-f", id) })
	if r := waitHTTP(t, http.DefaultClient, "http://"+addr+"/healthz"); r.StatusCode != 200 {
		t.Fatalf("/healthz of the hub in its image: %d", r.StatusCode)
	}
	if r := waitHTTP(t, http.DefaultClient, "http://"+addr+"/v2/"); r.StatusCode != 200 {
		t.Fatalf("/v2/ of the hub in its image: %d", r.StatusCode)
	}
	if user := mustStrata(t, root, "inspect", "-f", "{{.Config.User}}", "strata-hub:test"); strings.TrimSpace(user) != "65532:65532" {
		t.Fatalf("the image runs as %q", user)
	}
}
