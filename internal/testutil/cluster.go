package testutil

import (
	"context"
	"sync"
	"testing"

	"github.com/strata-dev/strata/internal/testutil/engines"
)

var strataBin struct {
	once sync.Once
	path string
	err  error
}

// StrataBinary is cmd/strata built once per test binary.
func StrataBinary(t testing.TB) string {
	t.Helper()
	strataBin.once.Do(func() { strataBin.path, strataBin.err = engines.BuildStrata(context.Background(), ModuleRoot()) })
	if strataBin.err != nil {
		t.Fatal(strataBin.err)
	}
	return strataBin.path
}

// StartCluster starts a hub of n `strata hub serve` processes on a new
// database of the shared PostgreSQL and a new bucket of the shared
// SeaweedFS, behind haproxy (round-robin per request), until the test
// ends; args go to every node. It skips the test when haproxy, PostgreSQL
// or SeaweedFS is not installed. When the test fails, the nodes' logs are
// in its output.
func StartCluster(t testing.TB, n int, args ...string) *engines.Cluster {
	t.Helper()
	return startCluster(t, engines.ClusterOptions{Nodes: n, Args: args})
}

// StartNodes is StartCluster without haproxy: the test talks to each node.
func StartNodes(t testing.TB, n int, args ...string) *engines.Cluster {
	t.Helper()
	return startCluster(t, engines.ClusterOptions{Nodes: n, Args: args, NoProxy: true})
}

func startCluster(t testing.TB, o engines.ClusterOptions) *engines.Cluster {
	t.Helper()
	w, bucket := S3Bucket(t)
	o.Database, o.Storage = PostgresDB(t), w.URL(bucket, "hub")
	setEnv(w)
	o.Bin, o.Dir = StrataBinary(t), t.TempDir()
	c, err := engines.StartCluster(context.Background(), o)
	if err != nil {
		engineFailed(t, err)
	}
	t.Cleanup(func() {
		c.Stop()
		if t.Failed() {
			t.Logf("the cluster's logs:\n%s", c.Logs(30))
		}
	})
	return c
}
