package s3_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/strata-dev/strata/internal/hub/storage"
	"github.com/strata-dev/strata/internal/hub/storage/s3"
	"github.com/strata-dev/strata/internal/hub/storage/storagetest"
	"github.com/strata-dev/strata/internal/testutil"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testutil.StopEngines()
	os.Exit(code)
}

// newDriver returns a driver on a new bucket of the shared SeaweedFS, under prefix.
func newDriver(t *testing.T, prefix string) *s3.Driver {
	t.Helper()
	w, bucket := testutil.S3Bucket(t)
	d, err := s3.New(context.Background(), s3.Options{Bucket: bucket, Prefix: prefix, Endpoint: w.Endpoint,
		Region: w.Region, PathStyle: true, PartSize: 5 << 20,
		Credentials: credentials.NewStaticCredentialsProvider(w.AccessKey, w.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// sameBucket is another driver (another node) on a's bucket and prefix.
func sameBucket(t *testing.T, a *s3.Driver) *s3.Driver {
	t.Helper()
	w := testutil.SeaweedFSServer(t)
	o := a.Options()
	o.Credentials = credentials.NewStaticCredentialsProvider(w.AccessKey, w.SecretKey, "")
	b, err := s3.New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Driver {
		return newDriver(t, "hub/"+strings.ReplaceAll(t.Name(), "/", "-"))
	})
}
