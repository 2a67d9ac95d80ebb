package hub_test

import (
	"os"
	"testing"

	"github.com/strata-dev/strata/internal/testutil"
)

// TestMain stops the engines (PostgreSQL, SeaweedFS) the tests shared.
func TestMain(m *testing.M) {
	code := m.Run()
	testutil.StopEngines()
	os.Exit(code)
}
