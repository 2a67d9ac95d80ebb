package hub_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/hub"
	"github.com/strata-dev/strata/internal/testutil"
)

// metric returns the value of the series whose line starts with name{labels}.
func metric(t *testing.T, base, series string) float64 {
	t.Helper()
	r := call(t, "GET", base+"/metrics", "", nil)
	if r.Status != 200 {
		t.Fatalf("/metrics: %d", r.Status)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(r.Body)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// /healthz and /readyz answer load balancers, and /metrics counts what
// the node served by route and status, the bytes in and out, and what
// its engines were asked.
func TestHealthAndMetrics(t *testing.T) {
	testutil.ForEachEngine(t, hub.Config{}, func(t *testing.T, cfg hub.Config) {
		h := testutil.StartHub(t, cfg)
		for _, p := range []string{"/healthz", "/readyz"} {
			if r := call(t, "GET", h.URL()+p, "", nil); r.Status != 200 || r.Body != "ok\n" {
				t.Fatalf("%s: %d %q", p, r.Status, r.Body)
			}
		}
		if r := call(t, "POST", h.URL()+"/readyz", "", nil); r.Status != http.StatusMethodNotAllowed {
			t.Fatalf("POST /readyz: %d", r.Status)
		}
		blob := bytes.Repeat([]byte("metrics "), 1000)
		d := digest.FromBytes(blob)
		if r := call(t, "POST", h.URL()+"/v2/m/app/blobs/uploads/?digest="+d.String(), "", blob); r.Status != 201 {
			t.Fatalf("push: %d %s", r.Status, r.Body)
		}
		for range 2 {
			if r := call(t, "GET", h.URL()+"/v2/m/app/blobs/"+d.String(), "", nil); r.Status != 200 || r.Body != string(blob) {
				t.Fatalf("pull: %d", r.Status)
			}
		}
		call(t, "GET", h.URL()+"/v2/m/app/manifests/nope", "", nil)
		base := h.URL()
		for series, want := range map[string]float64{
			`strata_hub_http_requests_total{code="201",method="POST",route="upload-start"}`: 1,
			`strata_hub_http_requests_total{code="200",method="GET",route="blob"}`:          2,
			`strata_hub_http_requests_total{code="404",method="GET",route="manifest"}`:      1,
			`strata_hub_http_request_bytes_total{route="upload-start"}`:                     float64(len(blob)),
			`strata_hub_http_response_bytes_total{route="blob"}`:                            float64(2 * len(blob)),
			`strata_hub_http_request_duration_seconds_count{method="GET",route="blob"}`:     2,
			`strata_hub_uploads_in_flight`:                                                  0,
		} {
			if got := metric(t, base, series); got != want {
				t.Errorf("%s = %v, want %v", series, got, want)
			}
		}
		if got := metric(t, base, `strata_hub_store_operations_total{op="commit",result="ok"}`); got != 1 {
			t.Errorf("store commits: %v", got)
		}
		if got := metric(t, base, `strata_hub_store_operations_total{op="open",result="ok"}`); got < 2 {
			t.Errorf("store opens: %v", got)
		}
		if cfg.Database != "" {
			if got := metric(t, base, `strata_hub_db_queries_total{result="ok"}`); got == 0 {
				t.Error("no database statement counted")
			}
		}
	})
}

// Shutting down, a node first stops being ready while it still serves,
// and an upload in flight finishes before it exits: its bytes are kept.
func TestGracefulShutdown(t *testing.T) {
	cfg := hub.Config{Open: true, DataDir: t.TempDir(), Addr: testutil.FreeAddr(t), DrainDelay: 3 * time.Second}
	deps, stop, served := serveNode(t, cfg)
	base := "http://" + cfg.Addr
	// An upload whose body is still coming when the shutdown begins.
	h := &testutil.Hub{Addr: cfg.Addr}
	loc := startUpload(t, h, "drain/app")
	body, feed := io.Pipe()
	req, _ := http.NewRequest("PATCH", base+loc, body)
	req.Header.Set("Content-Type", "application/octet-stream")
	answered := make(chan *http.Response, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
		}
		answered <- resp
	}()
	first := bytes.Repeat([]byte("x"), 64<<10)
	feed.Write(first)
	if !testutil.WaitFor(10*time.Second, func() bool { return metric(t, base, "strata_hub_uploads_in_flight") == 1 }) {
		t.Fatal("the upload is not in flight")
	}
	stop()
	// It answers (it still serves) that it is not ready.
	if !testutil.WaitFor(10*time.Second, func() bool { return status(base+"/readyz") == 503 }) {
		t.Fatal("a node shutting down stays ready")
	}
	rest := bytes.Repeat([]byte("y"), 64<<10)
	feed.Write(rest)
	feed.Close()
	resp := <-answered
	if resp == nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("the upload in flight: %v", resp)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	whole := append(first, rest...)
	u, err := deps.Meta.Upload(context.Background(), "drain/app", loc[strings.LastIndex(loc, "/")+1:])
	if err != nil || u.Offset != int64(len(whole)) {
		t.Fatalf("the upload after shutdown: %+v, %v", u, err)
	}
	if status(base+"/v2/") != 0 {
		t.Fatal("the hub still answers after Serve returned")
	}
}

// serveNode runs hub.Serve on cfg until stop is called, once it is ready;
// served says how Serve returned.
func serveNode(t *testing.T, cfg hub.Config) (deps hub.Deps, stop func(), served chan error) {
	t.Helper()
	deps, err := hub.Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deps.Meta.Close() })
	ctx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	served = make(chan error, 1)
	go func() { served <- hub.Serve(ctx, cfg, deps, nil) }()
	if !testutil.WaitFor(10*time.Second, func() bool { return status("http://"+cfg.Addr+"/readyz") == 200 }) {
		t.Fatal("the hub did not become ready")
	}
	return deps, stop, served
}

// status is the status of a GET, 0 when nothing answered.
func status(url string) int {
	r, err := http.Get(url)
	if err != nil {
		return 0
	}
	r.Body.Close()
	return r.StatusCode
}

// Pulls a node counted are recorded when it shuts down, not lost with it.
func TestPullsRecordedOnShutdown(t *testing.T) {
	cfg := hub.Config{Open: true, DataDir: t.TempDir(), Addr: testutil.FreeAddr(t)}
	deps, stop, served := serveNode(t, cfg)
	base := "http://" + cfg.Addr
	d := push(t, cfg.Addr+"/pulled/app:1", randomImage(t, 1))
	for _, ref := range []string{"1", d.String(), "1"} {
		if got := status(base + "/v2/pulled/app/manifests/" + ref); got != 200 {
			t.Fatalf("GET manifest %s: %d", ref, got)
		}
	}
	stop()
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if r, err := deps.Meta.Repository(context.Background(), "pulled/app"); err != nil || r.Pulls != 3 || r.LastPulled.IsZero() {
		t.Fatalf("after shutdown: %d pulls, last %v, %v", r.Pulls, r.LastPulled, err)
	}
}
