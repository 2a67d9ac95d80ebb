package engines

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// SeaweedFS is a private SeaweedFS (master, volume, filer and S3 gateway in
// one `weed server` process) on 127.0.0.1.
type SeaweedFS struct {
	Endpoint  string // http://127.0.0.1:port, the S3 API
	AccessKey string
	SecretKey string
	Region    string
	dir       string
	bin       string
	ports     [4]int // master, volume, filer, s3
	metrics   int    // Prometheus metrics, for S3Requests
	proc      *process
	buckets   atomic.Int64
}

// StartSeaweedFS starts weed from moduleRoot's .tools/bin (or PATH) in a
// new directory and waits until its S3 API answers.
func StartSeaweedFS(moduleRoot string) (*SeaweedFS, error) {
	bin, err := lookTool(moduleRoot, "weed")
	if err != nil {
		return nil, err
	}
	w := &SeaweedFS{bin: bin, AccessKey: "strata-test", SecretKey: "strata-test-secret", Region: "us-east-1"}
	if w.dir, err = makeDir("weed"); err != nil {
		return nil, err
	}
	// Each port's +10000 is its gRPC port, so both must be free.
	for i := range w.ports {
		if w.ports[i], err = freePort(10000); err != nil {
			w.Remove()
			return nil, err
		}
	}
	if w.metrics, err = freePort(0); err != nil {
		w.Remove()
		return nil, err
	}
	w.Endpoint = fmt.Sprintf("http://127.0.0.1:%d", w.ports[3])
	conf := fmt.Sprintf(`{"identities":[{"name":"admin","credentials":[{"accessKey":%q,"secretKey":%q}],`+
		`"actions":["Admin","Read","Write","List","Tagging"]}]}`, w.AccessKey, w.SecretKey)
	if err := os.WriteFile(filepath.Join(w.dir, "s3.json"), []byte(conf), 0o600); err != nil {
		w.Remove()
		return nil, err
	}
	if err := w.Start(); err != nil {
		w.Remove()
		return nil, err
	}
	return w, nil
}

// Start starts weed (again, after Stop) and waits until S3 answers.
func (w *SeaweedFS) Start() error {
	data := filepath.Join(w.dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return err
	}
	p := func(i int) string { return strconv.Itoa(w.ports[i]) }
	var err error
	// Each bucket is a collection that grows 7 volumes at its first write,
	// and weed allows as many volumes as fit the free disk at their size
	// limit: small volumes leave room for the tests' many buckets (at 1 GiB,
	// 66 GB free took about nine, and the next write failed with a 500).
	w.proc, err = start(filepath.Join(w.dir, "weed.log"), nil, syscall.SIGKILL, w.bin, "server",
		"-dir="+data, "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
		"-master.port="+p(0), "-volume.port="+p(1), "-filer", "-filer.port="+p(2),
		"-s3", "-s3.port="+p(3), "-s3.config="+filepath.Join(w.dir, "s3.json"),
		"-master.volumeSizeLimitMB=128", "-volume.max=0", "-metricsPort="+strconv.Itoa(w.metrics))
	if err != nil {
		return err
	}
	client := w.Client()
	// S3 answers after 5 to 10 seconds; a bucket can be made a little later.
	return w.proc.waitUntil(90*time.Second, "weed", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := client.ListBuckets(ctx, &s3.ListBucketsInput{})
		return err == nil
	})
}

// Stop kills weed (it ignores SIGTERM for a while); Start brings it back
// on the same data and ports.
func (w *SeaweedFS) Stop() {
	w.proc.stop(syscall.SIGKILL, 30*time.Second)
}

// Remove stops weed and deletes its directory.
func (w *SeaweedFS) Remove() {
	if w.proc != nil {
		w.Stop()
	}
	os.RemoveAll(w.dir)
}

// Client is an S3 client of this server.
func (w *SeaweedFS) Client() *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(w.Endpoint),
		Region:       w.Region,
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(w.AccessKey, w.SecretKey, ""),
	})
}

// NewBucket creates an empty bucket named after prefix and returns its name.
func (w *SeaweedFS) NewBucket(ctx context.Context, prefix string) (string, error) {
	name := fmt.Sprintf("%s-%d", bucketName(prefix), w.buckets.Add(1))
	client := w.Client()
	var err error
	for range 50 { // a just-started server may not take buckets yet
		if _, err = client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err == nil {
			return name, nil
		}
		if ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	return "", fmt.Errorf("create bucket %s: %w", name, err)
}

// URL is the hub's --storage for a bucket and prefix of this server.
func (w *SeaweedFS) URL(bucket, prefix string) string {
	return fmt.Sprintf("s3://%s/%s?endpoint=%s&region=%s", bucket, prefix, w.Endpoint, w.Region)
}

// Env is the standard AWS environment for this server's credentials.
func (w *SeaweedFS) Env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + w.AccessKey, "AWS_SECRET_ACCESS_KEY=" + w.SecretKey, "AWS_REGION=" + w.Region}
}

// bucketName makes a bucket name of lowercase letters, digits and -, at most 40 long.
func bucketName(s string) string {
	b := []byte(sanitize(s))
	for i, c := range b {
		if c == '_' {
			b[i] = '-'
		}
	}
	for len(b) > 0 && b[len(b)-1] == '-' {
		b = b[:len(b)-1]
	}
	if len(b) < 3 {
		return "bucket"
	}
	return string(b)
}

// RequestStats is what the S3 gateway did for one bucket, by request type
// (PUT, GET, HEAD, DELETE, LIST, ...): how many requests, and the seconds
// it spent on them (its own processing time, not the network's).
type RequestStats map[string]struct {
	Count   int64
	Seconds float64
}

// S3Requests reads the gateway's counters for bucket from its Prometheus
// metrics (SeaweedFS_s3_request_total and _request_seconds). They only
// grow: take the difference of two readings.
func (w *SeaweedFS) S3Requests(ctx context.Context, bucket string) (RequestStats, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/metrics", w.metrics), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := RequestStats{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, labels, value, ok := parseSample(sc.Text())
		if !ok || labels["bucket"] != bucket {
			continue
		}
		e := out[labels["type"]]
		switch name {
		case "SeaweedFS_s3_request_total":
			e.Count += int64(value)
		case "SeaweedFS_s3_request_seconds_sum":
			e.Seconds += value
		default:
			continue
		}
		out[labels["type"]] = e
	}
	return out, sc.Err()
}

// parseSample reads one line of Prometheus' text format: name{k="v",...} value.
func parseSample(line string) (name string, labels map[string]string, value float64, ok bool) {
	if strings.HasPrefix(line, "#") {
		return "", nil, 0, false
	}
	head, val, found := strings.Cut(line, " ")
	if !found {
		return "", nil, 0, false
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
	if err != nil {
		return "", nil, 0, false
	}
	name, rest, _ := strings.Cut(head, "{")
	labels = map[string]string{}
	for _, kv := range strings.Split(strings.TrimSuffix(rest, "}"), ",") {
		if k, v, found := strings.Cut(kv, "="); found {
			labels[k] = strings.Trim(v, `"`)
		}
	}
	return name, labels, v, true
}

// DistributionConfig is the configuration of distribution 2.8.2
// (docker-registry) serving on addr with its s3 driver in bucket of this
// server, redirects off (it serves the bytes), quiet, open.
func (w *SeaweedFS) DistributionConfig(bucket, addr string) string {
	return fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  s3:
    accesskey: %s
    secretkey: %s
    region: %s
    regionendpoint: %s
    bucket: %s
    secure: false
    v4auth: true
    forcepathstyle: true
  delete:
    enabled: true
  redirect:
    disable: true
http:
  addr: %s
  secret: bench
`, w.AccessKey, w.SecretKey, w.Region, w.Endpoint, bucket, addr)
}
