package hub_test

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-dev/strata/internal/hub"
	"github.com/strata-dev/strata/internal/testutil"
)

// conformanceEnv turns on every API of the OCI conformance suite, sha512
// and every kind of data except sparse manifests (whose missing blobs the
// hub refuses on purpose, as the spec allows).
var conformanceEnv = []string{
	"OCI_TLS=disabled", "OCI_VERSION=1.1", "OCI_REPO1=conformance/repo1", "OCI_REPO2=conformance/repo2",
	"OCI_CONFIGURATION=/dev/null", "OCI_LOG=warn",
	"OCI_API_PING=true", "OCI_API_PULL=true", "OCI_API_PUSH=true", "OCI_API_REFERRER=true",
	"OCI_API_BLOBS_ATOMIC=true", "OCI_API_BLOBS_DELETE=true", "OCI_API_BLOBS_DIGEST_HEADER=true",
	"OCI_API_BLOBS_MOUNT_ANONYMOUS=true", "OCI_API_BLOBS_UPLOAD_CANCEL=true",
	"OCI_API_MANIFESTS_ATOMIC=true", "OCI_API_MANIFESTS_DELETE=true", "OCI_API_MANIFESTS_DIGEST_HEADER=true",
	"OCI_API_MANIFESTS_TAG_PARAM=true",
	"OCI_API_TAGS_ATOMIC=true", "OCI_API_TAGS_DELETE=true", "OCI_API_TAGS_LIST=true",
	"OCI_DATA_IMAGE=true", "OCI_DATA_INDEX=true", "OCI_DATA_INDEX_LIST=true", "OCI_DATA_SPARSE=false",
	"OCI_DATA_ARTIFACT=true", "OCI_DATA_SUBJECT=true", "OCI_DATA_SUBJECT_MISSING=true",
	"OCI_DATA_ARTIFACT_LIST=true", "OCI_DATA_SUBJECT_LIST=true", "OCI_DATA_DATA_FIELD=true",
	"OCI_DATA_NONDISTRIBUTABLE=true", "OCI_DATA_CUSTOM_FIELDS=true", "OCI_DATA_NO_LAYERS=true",
	"OCI_DATA_EMPTY_BLOB=true", "OCI_DATA_SHA512=true",
}

type junitCase struct {
	Name   string `xml:"name,attr"`
	Status string `xml:"status,attr"`
	Out    string `xml:"system-out"`
}

type junitReport struct {
	Tests    int `xml:"tests,attr"`
	Failures int `xml:"failures,attr"`
	Errors   int `xml:"errors,attr"`
	Skipped  int `xml:"skipped,attr"`
	Disabled int `xml:"disabled,attr"`
	Suites   []struct {
		Cases []junitCase `xml:"testcase"`
	} `xml:"testsuite"`
}

// The real OCI conformance suite against an in-process open hub: zero
// failures, and nothing skipped as unsupported.
func TestConformance(t *testing.T) {
	bin := testutil.Tool(t, "conformance")
	testutil.ForEachEngine(t, hub.Config{}, func(t *testing.T, cfg hub.Config) {
		runConformance(t, bin, testutil.StartHub(t, cfg).Addr, conformanceEnv)
	})
}

// The suite again against a hub with accounts, logged in with
// OCI_USERNAME/OCI_PASSWORD through Docker's token auth, in the user's
// own namespace.
func TestConformanceWithAccounts(t *testing.T) {
	bin := testutil.Tool(t, "conformance")
	testutil.ForEachEngine(t, hub.Config{}, func(t *testing.T, cfg hub.Config) {
		h := testutil.StartAccountsHub(t, cfg, [2]string{"admin-user", "admin-pass-1"}, [2]string{"oci", "oci-pass-12"})
		env := append([]string{"OCI_USERNAME=oci", "OCI_PASSWORD=oci-pass-12"}, conformanceEnv...)
		env = append(env, "OCI_REPO1=oci/repo1", "OCI_REPO2=oci/repo2") // later values win
		runConformance(t, bin, h.Addr, env)
	})
}

func runConformance(t *testing.T, bin, addr string, conf []string) {
	results := t.TempDir()
	env := append([]string{"OCI_REGISTRY=" + addr, "OCI_RESULTS_DIR=" + results}, conf...)
	out, err := testutil.RunErr(env, bin)
	junit, readErr := os.ReadFile(filepath.Join(results, "junit.xml"))
	if readErr != nil {
		// The suite exits 0 without a report when it cannot read its configuration.
		t.Fatalf("the conformance suite wrote no junit.xml (run error: %v): %v\n%s", err, readErr, out)
	}
	var rep junitReport
	if err := xml.Unmarshal(junit, &rep); err != nil {
		t.Fatalf("junit.xml: %v", err)
	}
	t.Logf("conformance: %d tests, %d failures, %d errors, %d skipped, %d disabled",
		rep.Tests, rep.Failures, rep.Errors, rep.Skipped, rep.Disabled)
	if rep.Tests < 500 {
		t.Errorf("only %d tests ran; the suite's configuration is probably wrong", rep.Tests)
	}
	var bad []string
	for _, s := range rep.Suites {
		for _, c := range s.Cases {
			if c.Status == "failure" || c.Status == "error" || c.Status == "skipped" {
				bad = append(bad, c.Status+": "+c.Name+": "+strings.TrimSpace(c.Out))
			}
		}
	}
	if rep.Failures+rep.Errors > 0 || len(bad) > 0 {
		t.Errorf("%d failures, %d errors, %d skipped as unsupported:\n%s", rep.Failures, rep.Errors, rep.Skipped,
			strings.Join(bad, "\n"))
	}
	if err != nil && rep.Failures+rep.Errors == 0 {
		t.Errorf("the suite failed without failing a test: %v\n%s", err, out)
	}
}
