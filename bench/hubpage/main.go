// Command hubpage measures what one anonymous page view of a hostile index
// costs the hub: an index of 4 MiB that lists a few dozen images over and
// over, each image with a config of half a megabyte of history. It runs a
// real `strata hub serve`, pushes the data through the registry API, and
// times the index's tag page and the repository page, cold (the first view
// after the hub starts) and warm (the views after), for -rounds restarts.
// The target is under a second, cold. There is no peer to compare with
// (no other self-hosted registry renders image pages): the registry API
// serving the same index is printed beside it as the floor.
//
//	go run ./bench/hubpage [-rounds 3] [-keep]
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/bench/internal/hubproc"
	"github.com/strata-dev/strata/bench/internal/workdir"
)

const (
	images     = 48        // distinct images the index lists
	configSize = 512 << 10 // bytes of each image's config
	indexSize  = 4 << 20   // bytes of the index
	password   = "bench-password-1"
)

func main() {
	rounds := flag.Int("rounds", 3, "hub restarts; each gives one cold view and several warm ones")
	keep := flag.Bool("keep", false, "keep the work directory (data and logs)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *rounds, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "bench/hubpage:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, rounds int, keep bool) error {
	work, cleanup, err := workdir.New("hubpage", keep)
	if err != nil {
		return err
	}
	defer cleanup()
	bin, err := workdir.BuildStrata(ctx, work)
	if err != nil {
		return err
	}
	data := filepath.Join(work, "data")
	user := exec.CommandContext(ctx, bin, "hub", "user", "create", "--admin", "alice", "--password-stdin", "--data-dir", data)
	user.Stdin = strings.NewReader(password)
	if out, err := user.CombinedOutput(); err != nil {
		return fmt.Errorf("hub user create: %v: %s", err, out)
	}
	addr := workdir.FreeAddr()
	base := "http://" + addr
	hub, err := serve(ctx, bin, data, addr, work)
	if err != nil {
		return err
	}
	fmt.Printf("pushing %d images with %d KiB configs and a %d MiB index listing them\n", images, configSize>>10, indexSize>>20)
	idxLen, err := push(base)
	hub.Stop()
	if err != nil {
		return err
	}
	pages := []string{"/r/alice/app/-/tags/multi", "/r/alice/app", "/v2/alice/app/manifests/multi"}
	cold, warm := map[string][]time.Duration{}, map[string][]time.Duration{}
	for round := range rounds {
		hub, err := serve(ctx, bin, data, addr, work)
		if err != nil {
			return err
		}
		for _, p := range pages {
			for i := range 6 {
				d, err := get(base + p)
				if err != nil {
					hub.Stop()
					return err
				}
				if i == 0 {
					cold[p] = append(cold[p], d)
				} else {
					warm[p] = append(warm[p], d)
				}
			}
		}
		hub.Stop()
		fmt.Printf("round %d done\n", round+1)
	}
	fmt.Printf("\nan index of %.1f MiB listing %d images %d times over; medians of %d rounds (target: under 1 s cold)\n\n",
		float64(idxLen)/(1<<20), images, idxLen/(indexEntryLen()*images), rounds)
	fmt.Printf("| page | cold | warm |\n|---|---:|---:|\n")
	for _, p := range pages {
		fmt.Printf("| %s | %s | %s |\n", p, median(cold[p]), median(warm[p]))
	}
	return nil
}

// serve starts the hub on data, its log in work.
func serve(ctx context.Context, bin, data, addr, work string) (*hubproc.Hub, error) {
	return hubproc.Start(ctx, bin, filepath.Join(work, "hub.log"), addr, "--data-dir", data, "--gc-interval", "-1s")
}

// push stores the images and the index in alice/app (public) and returns the index's length.
func push(base string) (int, error) {
	tok, err := token(base)
	if err != nil {
		return 0, err
	}
	var children []string
	for i := range images {
		var hist bytes.Buffer
		for j := 0; hist.Len() < configSize; j++ {
			fmt.Fprintf(&hist, `{"created_by":"RUN image %d step %d %s"},`, i, j, strings.Repeat("x", 60))
		}
		cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"history":[` +
			strings.TrimSuffix(hist.String(), ",") + `]}`)
		if err := send(base, tok, "POST", "/v2/alice/app/blobs/uploads/?digest="+digest.FromBytes(cfg).String(), "", cfg); err != nil {
			return 0, err
		}
		man := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},"layers":[]}`,
			digest.FromBytes(cfg), len(cfg)))
		if err := send(base, tok, "PUT", "/v2/alice/app/manifests/"+fmt.Sprint("image", i), "application/vnd.oci.image.manifest.v1+json", man); err != nil {
			return 0, err
		}
		children = append(children, fmt.Sprintf(`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":%q,"size":%d}`, digest.FromBytes(man), len(man)))
	}
	var entries []json.RawMessage
	for n := 0; n+indexEntryLen()+64 < indexSize; n += indexEntryLen() + 1 {
		entries = append(entries, json.RawMessage(children[len(entries)%len(children)]))
	}
	idx, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries})
	return len(idx), send(base, tok, "PUT", "/v2/alice/app/manifests/multi", "application/vnd.oci.image.index.v1+json", idx)
}

// indexEntryLen is the length of one of the index's entries.
func indexEntryLen() int {
	return len(fmt.Sprintf(`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":%q,"size":%d}`, digest.FromString(""), 300))
}

func token(base string) (string, error) {
	q := url.Values{"service": {"strata-hub"}, "scope": {"repository:alice/app:pull,push"}}
	req, _ := http.NewRequest("GET", base+"/auth/token?"+q.Encode(), nil)
	req.SetBasicAuth("alice", password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var t struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&t); err != nil || t.Token == "" {
		return "", fmt.Errorf("token: %d %v", resp.StatusCode, err)
	}
	return t.Token, nil
}

func send(base, tok, method, path, contentType string, body []byte) error {
	req, _ := http.NewRequest(method, base+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return nil
}

// get fetches a page anonymously and times it, whole.
func get(u string) (time.Duration, error) {
	start := time.Now()
	resp, err := http.Get(u)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil || resp.StatusCode != 200 {
		return 0, fmt.Errorf("GET %s: %d %v", u, resp.StatusCode, err)
	}
	return time.Since(start), nil
}

func median(ds []time.Duration) string {
	if len(ds) == 0 {
		return "-"
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2].Round(time.Millisecond).String()
}
