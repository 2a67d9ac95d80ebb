package hub_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/testutil"
	"github.com/strata-dev/strata/internal/testutil/engines"
)

// The tests in this file run a hub of three real `strata hub serve`
// processes on one PostgreSQL database and one SeaweedFS bucket, behind
// Debian's haproxy balancing every request round-robin (testutil.StartCluster):
// a client must not be able to tell which node answered, and losing a node
// must lose nothing the hub acknowledged.

// clusterOpen are the flags of an open cluster's nodes: the collector runs
// only when a test runs it, and uploads at once are not bounded (every
// client here is 127.0.0.1, and a killed node's uploads count against it
// for ten minutes).
var clusterOpen = []string{"--open", "--gc-interval", "-1s", "--scrub-interval", "-1s", "--max-uploads", "-1"}

// The OCI conformance suite through haproxy: every request of it may go to
// another node.
func TestClusterConformance(t *testing.T) {
	bin := testutil.Tool(t, "conformance")
	c := testutil.StartCluster(t, 3, clusterOpen...)
	runConformance(t, bin, c.Addr, conformanceEnv)
}

// docker, podman and strata push and pull through haproxy.
func TestClusterClients(t *testing.T) {
	c := testutil.StartCluster(t, 3, clusterOpen...)
	push(t, c.Addr+"/tools/busybox:1", busybox(t))
	t.Run("docker", func(t *testing.T) {
		d := testutil.StartDocker(t)
		d.Run(t, "pull", c.Addr+"/tools/busybox:1")
		d.Run(t, "tag", c.Addr+"/tools/busybox:1", c.Addr+"/docker/bb:1")
		d.Run(t, "push", c.Addr+"/docker/bb:1")
		d.Run(t, "rmi", c.Addr+"/tools/busybox:1", c.Addr+"/docker/bb:1")
		d.Run(t, "pull", c.Addr+"/docker/bb:1")
		if out := d.Run(t, "run", "--rm", "--network", "none", c.Addr+"/docker/bb:1"); strings.TrimSpace(out) != "hello from the hub" {
			t.Fatalf("docker run printed %q", out)
		}
	})
	t.Run("podman", func(t *testing.T) {
		p := testutil.NewPodman(t)
		p.Run(t, "pull", "--tls-verify=false", c.Addr+"/tools/busybox:1")
		p.Run(t, "tag", c.Addr+"/tools/busybox:1", c.Addr+"/podman/bb:1")
		p.Run(t, "push", "--tls-verify=false", c.Addr+"/podman/bb:1")
		p.Run(t, "rmi", c.Addr+"/tools/busybox:1", c.Addr+"/podman/bb:1")
		p.Run(t, "pull", "--tls-verify=false", c.Addr+"/podman/bb:1")
	})
	t.Run("strata", func(t *testing.T) {
		bin, root := testutil.StrataBinary(t), t.TempDir()
		strata := func(args ...string) string {
			return testutil.Run(t, nil, bin, append([]string{"--root", root}, args...)...)
		}
		strata("pull", c.Addr+"/tools/busybox:1")
		strata("tag", c.Addr+"/tools/busybox:1", c.Addr+"/strata/bb:1")
		strata("push", c.Addr+"/strata/bb:1")
		strata("rmi", c.Addr+"/tools/busybox:1", c.Addr+"/strata/bb:1")
		strata("pull", c.Addr+"/strata/bb:1")
	})
	want := digestOf(t, c.Addr+"/tools/busybox:1")
	for _, repo := range []string{"docker/bb", "podman/bb", "strata/bb"} {
		for _, n := range c.Nodes { // each node serves what the others took
			ref := n.Addr + "/" + repo + ":1"
			if err := sameLayers(ref, c.Addr+"/tools/busybox:1"); err != nil {
				t.Errorf("%s through %s: %v (the original is %s)", repo, n.Name, err, want)
			}
		}
	}
}

func digestOf(t *testing.T, ref string) v1.Hash {
	t.Helper()
	r, _ := name.ParseReference(ref)
	d, err := remote.Head(r)
	if err != nil {
		t.Fatal(err)
	}
	return d.Digest
}

// sameLayers checks that two references hold images with the same layers, byte for byte.
func sameLayers(a, b string) error {
	la, err := layerBytes(a)
	if err != nil {
		return err
	}
	lb, err := layerBytes(b)
	if err != nil {
		return err
	}
	if len(la) != len(lb) {
		return fmt.Errorf("%d layers, not %d", len(la), len(lb))
	}
	for i := range la {
		if !bytes.Equal(la[i], lb[i]) {
			return fmt.Errorf("layer %d differs", i)
		}
	}
	return nil
}

func layerBytes(ref string) ([][]byte, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, err
	}
	img, err := remote.Image(r)
	if err != nil {
		return nil, err
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, l := range layers {
		b, err := testutil.ReadLayer(l)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// noRetry makes go-containerregistry try each request once.
var noRetry = remote.WithRetryBackoff(remote.Backoff{Steps: 1})

// send is one request with a body, to an absolute URL or a Location a
// node answered (relative to base).
func send(t *testing.T, method, base, loc string, body []byte, header ...string) reply {
	t.Helper()
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := url.Parse(base)
	return call(t, method, b.ResolveReference(u).String(), "", body, header...)
}

// An upload started on one node goes on on the second, is checked on the
// third, and is finished on the first: its parts (S3 multipart, 5 MiB
// each) and running hash live in the shared engines, not in a node.
func TestClusterUploadAcrossNodes(t *testing.T) {
	c := testutil.StartNodes(t, 3, clusterOpen...)
	node := func(i int) string { return "http://" + c.Nodes[i%3].Addr }
	blob := make([]byte, 12<<20+12345)
	rand.Read(blob)
	dg := digest.FromBytes(blob)

	r := call(t, "POST", node(0)+"/v2/across/nodes/blobs/uploads/", "", nil)
	if r.Status != http.StatusAccepted {
		t.Fatalf("POST on node 1: %d %s", r.Status, r.Body)
	}
	loc := r.Header.Get("Location")
	chunks := [][2]int{{0, 5 << 20}, {5 << 20, 10 << 20}, {10 << 20, len(blob)}}
	for i, ch := range chunks[:2] {
		r = send(t, "PATCH", node(i+1), loc, blob[ch[0]:ch[1]], "Content-Type", "application/octet-stream",
			"Content-Range", fmt.Sprintf("%d-%d", ch[0], ch[1]-1))
		if r.Status != http.StatusAccepted {
			t.Fatalf("PATCH %d on node %d: %d %s", i, i+2, r.Status, r.Body)
		}
		loc = r.Header.Get("Location")
		// Every node sees how far the upload is.
		for j := range 3 {
			s := send(t, "GET", node(j), loc, nil)
			if want := fmt.Sprintf("0-%d", ch[1]-1); s.Status != http.StatusNoContent || s.Header.Get("Range") != want {
				t.Fatalf("upload status on node %d after chunk %d: %d, Range %q; want 204, %q", j+1, i, s.Status, s.Header.Get("Range"), want)
			}
		}
	}
	last := chunks[2]
	u, _ := url.Parse(loc)
	q := u.Query()
	q.Set("digest", dg.String())
	u.RawQuery = q.Encode()
	r = send(t, "PUT", node(0), u.String(), blob[last[0]:last[1]], "Content-Type", "application/octet-stream",
		"Content-Range", fmt.Sprintf("%d-%d", last[0], last[1]-1))
	if r.Status != http.StatusCreated {
		t.Fatalf("PUT on node 1: %d %s", r.Status, r.Body)
	}
	for i := range 3 {
		got := call(t, "GET", node(i)+"/v2/across/nodes/blobs/"+dg.String(), "", nil)
		if got.Status != 200 || got.Body != string(blob) {
			t.Fatalf("the blob through node %d: %d, %d bytes", i+1, got.Status, len(got.Body))
		}
	}
}

// strataOn runs the strata binary on the cluster's engines (a maintenance
// command: hub gc, hub user, hub key), as an operator would on any machine.
func strataOn(t *testing.T, c *engines.Cluster, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(testutil.StrataBinary(t), append(args, "--database", c.Database, "--data-dir", t.TempDir())...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("strata %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// clusterToken asks node (a base URL) for a token for scope as user.
func clusterToken(t *testing.T, node, user, pass, scope string) string {
	t.Helper()
	q := url.Values{"service": {"strata-hub"}, "scope": {scope}}
	req, _ := http.NewRequest(http.MethodGet, node+"/auth/token?"+q.Encode(), nil)
	req.SetBasicAuth(user, pass)
	tr, r := tokenCall(t, req)
	if r.Status != 200 {
		t.Fatalf("token from %s: %d %s", node, r.Status, r.Body)
	}
	return tr.Token
}

// A token issued by one node is good on every other; so is one signed
// with a key made by `strata hub key rotate` while clients hold tokens
// signed with the one before, and one signed by a node that started after
// the rotation (it signs with the new key before the others have read it).
func TestClusterTokens(t *testing.T) {
	c := testutil.StartNodes(t, 3, "--gc-interval", "-1s", "--scrub-interval", "-1s")
	strataOn(t, c, "alice-pass-1\n", "hub", "user", "create", "alice", "--password-stdin")
	nodes := []string{"http://" + c.Nodes[0].Addr, "http://" + c.Nodes[1].Addr, "http://" + c.Nodes[2].Addr}
	scope := "repository:alice/app:push,pull"
	img := randomImage(t, 1)
	s := seed(t, img)
	layers, _ := img.Layers()
	layer, _ := testutil.ReadLayer(layers[0])

	goodEverywhere := func(what, tok string) {
		t.Helper()
		for i, n := range nodes {
			if r := call(t, "GET", n+"/v2/alice/app/tags/list", tok, nil); r.Status != 200 && r.Status != 404 {
				t.Fatalf("%s on node %d: %d %s", what, i+1, r.Status, r.Body)
			}
			if r := call(t, "GET", n+"/v2/", tok, nil); r.Status != 200 {
				t.Fatalf("%s on node %d (/v2/): %d %s", what, i+1, r.Status, r.Body)
			}
		}
	}
	var held []string
	for i, n := range nodes {
		tok := clusterToken(t, n, "alice", "alice-pass-1", scope)
		goodEverywhere(fmt.Sprintf("a token of node %d", i+1), tok)
		held = append(held, tok)
	}
	// A push whose steps each go to another node with one token.
	tok := held[0]
	if r := call(t, "POST", nodes[1]+"/v2/alice/app/blobs/uploads/?digest="+s.Layer.String(), tok, layer,
		"Content-Type", "application/octet-stream"); r.Status != 201 {
		t.Fatalf("monolithic upload on node 2 with node 1's token: %d %s", r.Status, r.Body)
	}
	cfg, _ := img.RawConfigFile()
	if r := call(t, "POST", nodes[2]+"/v2/alice/app/blobs/uploads/?digest="+s.Config.String(), tok, cfg,
		"Content-Type", "application/octet-stream"); r.Status != 201 {
		t.Fatalf("config upload on node 3: %d %s", r.Status, r.Body)
	}
	if r := call(t, "PUT", nodes[0]+"/v2/alice/app/manifests/v1", tok, s.Manifest, "Content-Type", s.MediaType); r.Status != 201 {
		t.Fatalf("manifest on node 1: %d %s", r.Status, r.Body)
	}

	// Rotation while clients hold tokens: the new key signs at once.
	before := kidOf(t, held[0])
	out := strataOn(t, c, "", "hub", "key", "rotate", "--publish", "0")
	if !strings.Contains(out, "Added key") {
		t.Fatalf("hub key rotate: %s", out)
	}
	for i, tok := range held {
		goodEverywhere(fmt.Sprintf("node %d's token from before the rotation", i+1), tok)
	}
	// A node started now reads the new key and signs with it; the others,
	// which have not read it yet, accept its tokens at once.
	c.Nodes[2].Kill()
	if err := c.Nodes[2].Start(); err != nil {
		t.Fatal(err)
	}
	fresh := clusterToken(t, nodes[2], "alice", "alice-pass-1", scope)
	if kidOf(t, fresh) == before {
		t.Fatalf("a node started after the rotation still signs with key %s", before)
	}
	goodEverywhere("a token signed with the new key", fresh)
	for i, tok := range held {
		goodEverywhere(fmt.Sprintf("node %d's old token, after a node signs with the new key", i+1), tok)
	}
	if r := call(t, "GET", nodes[1]+"/v2/alice/app/manifests/v1", fresh, nil, "Accept", s.MediaType); r.Status != 200 || r.Body != string(s.Manifest) {
		t.Fatalf("the manifest with the new key's token on node 2: %d", r.Status)
	}
}

func kidOf(t *testing.T, tok string) string {
	h, _ := claimsOf(t, tok)
	kid, _ := h["kid"].(string)
	if kid == "" {
		t.Fatalf("token without a key id: %v", h)
	}
	return kid
}

// pushed is a push a client sent: its reference and image, and why it failed.
type pushed struct {
	ref string
	img v1.Image
	err error
}

// pushLoop pushes images (a base layer of bases and a new one) as worker w
// through addr until ctx ends, without retries, and sorts each push into
// acknowledged or not. ready gets a token after each push.
func pushLoop(ctx context.Context, t *testing.T, addr, repo string, w int, bases []v1.Layer, ready chan<- struct{},
	mu *sync.Mutex, acked, failed *[]pushed) {
	for i := 0; ctx.Err() == nil; i++ {
		img, _ := mutate.AppendLayers(empty.Image, bases[(w+i)%len(bases)], testutil.RandomLayer(128<<10))
		p := pushed{ref: fmt.Sprintf("%s/%s/w%d:%d", addr, repo, w, i), img: img}
		r, _ := name.ParseReference(p.ref)
		err := remote.Write(r, img, remote.WithContext(ctx), noRetry)
		mu.Lock()
		if err == nil {
			*acked = append(*acked, p)
		} else {
			p.err = err
			*failed = append(*failed, p)
		}
		mu.Unlock()
		select {
		case ready <- struct{}{}:
		default:
		}
	}
}

// kill -9 of a node while clients push many images through haproxy, one
// node per round: every push the clients saw acknowledged reads back byte
// for byte through each node left, and every push that failed succeeds at
// once when it is sent again (no retry), while the node is still down.
func TestClusterKillNode(t *testing.T) {
	c := testutil.StartCluster(t, 3, clusterOpen...)
	bases := make([]v1.Layer, 4)
	for i := range bases {
		bases[i] = testutil.RandomLayer(512 << 10)
	}
	const workers = 6
	total, totalFailed := 0, 0
	for round := range 3 {
		victim := c.Nodes[round]
		ctx, cancel := context.WithCancel(context.Background())
		var mu sync.Mutex
		var acked, failed []pushed
		var wg sync.WaitGroup
		ready := make(chan struct{}, workers)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				pushLoop(ctx, t, c.Addr, fmt.Sprintf("kill/r%d", round), w, bases, ready, &mu, &acked, &failed)
			}()
		}
		for range workers { // some pushes done, others in flight
			<-ready
		}
		victim.Kill()
		// Pushes go on through the others while haproxy notices.
		time.Sleep(1500 * time.Millisecond)
		cancel()
		wg.Wait()
		if err := c.WaitUp(2, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		for _, p := range acked {
			for _, n := range c.Nodes {
				if n == victim {
					continue
				}
				ref := n.Addr + strings.TrimPrefix(p.ref, c.Addr)
				if err := testutil.SameImage(ref, p.img, noRetry); err != nil {
					t.Fatalf("round %d: acknowledged push %s through %s after %s died: %v", round, p.ref, n.Name, victim.Name, err)
				}
			}
		}
		for _, p := range failed {
			r, _ := name.ParseReference(p.ref)
			if err := remote.Write(r, p.img, noRetry); err != nil {
				t.Fatalf("round %d: pushing %s again with %s dead: %v", round, p.ref, victim.Name, err)
			}
			if err := testutil.SameImage(p.ref, p.img, noRetry); err != nil {
				t.Fatalf("round %d: %s pushed again: %v", round, p.ref, err)
			}
		}
		if len(acked) == 0 {
			t.Fatalf("round %d: no push was acknowledged", round)
		}
		stopped := 0
		for _, p := range failed {
			if errors.Is(p.err, context.Canceled) {
				stopped++
			}
		}
		total += len(acked)
		totalFailed += len(failed) - stopped
		t.Logf("round %d (%s killed): %d pushes acknowledged, %d failed with the node and %d stopped by the test, all pushed again",
			round, victim.Name, len(acked), len(failed)-stopped, stopped)
		if err := victim.Start(); err != nil {
			t.Fatal(err)
		}
		if err := c.WaitUp(3, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d pushes acknowledged in all, %d failed with a node and were pushed again", total, totalFailed)
}

// A collection run on one node while clients push through the others,
// the pushes reusing layers the collector is deleting: no push fails, and
// every one reads back whole after the collector has run again.
func TestClusterGCDuringPushes(t *testing.T) {
	const grace = 3 * time.Second
	c := testutil.StartNodes(t, 3, clusterOpen...)
	// More base layers than clients: most are still garbage when the
	// first collection starts, and the clients get to them while it runs.
	bases := make([]v1.Layer, 12)
	for i := range bases {
		bases[i] = testutil.RandomLayer(256 << 10)
	}
	// Garbage: images of the base layers, deleted, older than the grace period.
	for i, b := range bases {
		img, _ := mutate.AppendLayers(empty.Image, b)
		ref := fmt.Sprintf("%s/gc/old:%d", c.Nodes[1].Addr, i)
		d := push(t, ref, img)
		if r := call(t, "DELETE", fmt.Sprintf("http://%s/v2/gc/old/manifests/%s", c.Nodes[1].Addr, d), "", nil); r.Status != 202 {
			t.Fatalf("delete: %d %s", r.Status, r.Body)
		}
	}
	time.Sleep(grace + 500*time.Millisecond)

	gcArgs := []string{"hub", "gc", "--gc-grace", grace.String(), "--storage", c.Storage}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var mu sync.Mutex
	var acked, failed []pushed
	var wg sync.WaitGroup
	ready := make(chan struct{}, 8)
	pushCtx, stopPushes := context.WithCancel(ctx)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			addr := c.Nodes[1+w%2].Addr // the nodes that do not collect
			pushLoop(pushCtx, t, addr, "gc/new", w, bases, ready, &mu, &acked, &failed)
		}()
	}
	<-ready
	// Collections on node 1's machine, one after the other, while the pushes go on.
	collected := 0
	for run := 0; run < 4; run++ {
		out := strataOn(t, c, "", gcArgs...)
		var blobs int
		fmt.Sscanf(out[strings.Index(out, ":")+1:], "%d", &blobs)
		collected += blobs
	}
	stopPushes()
	wg.Wait()
	// A push the test stopped is not a failure of the hub; any other is.
	for _, p := range failed {
		if !errors.Is(p.err, context.Canceled) {
			t.Errorf("%s failed while the collector ran: %v", p.ref, p.err)
		}
		r, _ := name.ParseReference(p.ref)
		if err := remote.Write(r, p.img, noRetry); err != nil {
			t.Errorf("%s, stopped by the test, pushed again: %v", p.ref, err)
		}
		acked = append(acked, p)
	}
	if collected == 0 {
		t.Fatalf("the collections deleted no blob: the test raced nothing")
	}
	strataOn(t, c, "", gcArgs...)
	for _, p := range acked {
		for _, n := range c.Nodes {
			ref := n.Addr + "/" + strings.SplitN(p.ref, "/", 2)[1]
			if err := testutil.SameImage(ref, p.img, noRetry); err != nil {
				t.Fatalf("%s through %s after the collections: %v", p.ref, n.Name, err)
			}
		}
	}
	t.Logf("%d blobs collected while %d images were pushed (%d stopped by the test and pushed again)", collected, len(acked), len(failed))
}

// A namespace's quota holds across nodes: clients pushing at once through
// haproxy, each request to another node, store no more than it allows.
func TestClusterQuota(t *testing.T) {
	c := testutil.StartCluster(t, 3, append([]string{"--quota", "3MiB"}, clusterOpen...)...)
	var mu sync.Mutex
	var acked []v1.Image
	var refused []error
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			img, _ := mutate.AppendLayers(empty.Image, testutil.RandomLayer(1<<20))
			r, _ := name.ParseReference(fmt.Sprintf("%s/full/img%d:1", c.Addr, w))
			err := remote.Write(r, img)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				acked = append(acked, img)
			} else {
				refused = append(refused, err)
			}
		}()
	}
	wg.Wait()
	var stored int64
	for _, img := range acked {
		m, _ := img.Manifest()
		stored += m.Config.Size
		for _, l := range m.Layers {
			stored += l.Size
		}
	}
	if len(acked) == 0 || len(refused) == 0 || stored > 3<<20 {
		t.Fatalf("%d pushes of 1 MiB acknowledged (%d bytes), %d refused, under a quota of 3 MiB: %v", len(acked), stored, len(refused), refused)
	}
	for _, err := range refused {
		if !strings.Contains(err.Error(), "quota") {
			t.Errorf("a push refused for another reason than the quota: %v", err)
		}
	}
	// Another namespace is not full.
	img, _ := mutate.AppendLayers(empty.Image, testutil.RandomLayer(1<<20))
	push(t, c.Addr+"/other/img:1", img)
	t.Logf("%d pushes acknowledged (%d bytes), %d refused", len(acked), stored, len(refused))
}

// With --redirect, a node that sent a client to a blob's object keeps no
// stale idea of where it is: after another node's collection deleted it
// and a third's push stored it again (in a new object), the first node's
// redirect, and its own GET, still give the blob.
func TestClusterRedirectAfterCollection(t *testing.T) {
	c := testutil.StartNodes(t, 3, append([]string{"--redirect"}, clusterOpen...)...)
	img, _ := mutate.AppendLayers(empty.Image, testutil.RandomLayer(300<<10))
	s := seed(t, img)
	layers, _ := img.Layers()
	want, _ := testutil.ReadLayer(layers[0])
	get := func(node int) {
		t.Helper()
		u := fmt.Sprintf("http://%s/v2/redir/img/blobs/%s", c.Nodes[node].Addr, s.Layer)
		resp, err := http.Get(u) // follows the redirect to the store
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !bytes.Equal(b, want) {
			t.Fatalf("the blob through node %d (redirected to %s): %d, %d bytes", node+1, resp.Request.URL.Host, resp.StatusCode, len(b))
		}
	}
	d := push(t, c.Nodes[0].Addr+"/redir/img:1", img)
	get(1)
	if r := call(t, "DELETE", fmt.Sprintf("http://%s/v2/redir/img/manifests/%s", c.Nodes[0].Addr, d), "", nil); r.Status != 202 {
		t.Fatalf("delete: %d", r.Status)
	}
	out := strataOn(t, c, "", "hub", "gc", "--gc-grace", "1ms", "--storage", c.Storage)
	if !strings.Contains(out, "Freed") && !strings.Contains(out, "blob") {
		t.Logf("hub gc: %s", out)
	}
	if r := call(t, "GET", fmt.Sprintf("http://%s/v2/redir/img/blobs/%s", c.Nodes[1].Addr, s.Layer), "", nil); r.Status != 404 {
		t.Fatalf("the collected blob through node 2: %d, want 404 (hub gc said %s)", r.Status, out)
	}
	push(t, c.Nodes[2].Addr+"/redir/img:1", img)
	get(1)
	get(0)
}
