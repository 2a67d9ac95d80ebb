package hub_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-dev/strata/internal/hub"
	"github.com/strata-dev/strata/internal/hub/meta"
	"github.com/strata-dev/strata/internal/hub/webhook"
)

// receiver is a webhook receiver on loopback that checks each delivery's
// signature, and fails the first `failures` tries of each delivery.
type receiver struct {
	*httptest.Server
	t        *testing.T
	secret   string
	mu       sync.Mutex
	failures int
	failed   map[string]int // by delivery
	got      []webhook.Payload
	ids      []string
	tries    int
}

func newReceiver(t *testing.T, secret string, failures int) *receiver {
	rc := &receiver{t: t, secret: secret, failures: failures, failed: map[string]int{}}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		rc.tries++
		if got, want := r.Header.Get(webhook.SignatureHeader), webhook.Sign(rc.secret, body); got != want || !strings.HasPrefix(got, "sha256=") {
			t.Errorf("signature %q, want %q", got, want)
			w.WriteHeader(400)
			return
		}
		if r.Method != "POST" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s with %s", r.Method, r.Header.Get("Content-Type"))
		}
		if id := r.Header.Get("X-Strata-Delivery"); rc.failed[id] < rc.failures {
			rc.failed[id]++
			w.WriteHeader(503)
			return
		}
		var p webhook.Payload
		if err := json.Unmarshal(body, &p); err != nil {
			t.Errorf("payload %s: %v", body, err)
		}
		rc.got, rc.ids = append(rc.got, p), append(rc.ids, r.Header.Get("X-Strata-Delivery"))
		w.WriteHeader(204)
	}))
	t.Cleanup(rc.Close)
	return rc
}

// wait waits (up to a minute: the machine is shared) until the receiver
// took n deliveries and returns them.
func (rc *receiver) wait(n int) []webhook.Payload {
	rc.t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		rc.mu.Lock()
		got := append([]webhook.Payload(nil), rc.got...)
		rc.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			rc.t.Fatalf("the receiver got %d deliveries, want %d: %+v", len(got), n, got)
		}
	}
}

// Webhooks made on the repository page hear of pushes, tag deletes and
// visibility changes, signed; a receiver that fails at first gets the
// delivery on a later try; the log on the page shows it all, and a
// delivery can be sent again. Only the repository's managers see or change hooks.
func TestWebhooks(t *testing.T) {
	cfg := hub.Config{Webhooks: webhook.Options{AllowPrivate: true, Backoff: 20 * time.Millisecond}}
	h, _, _ := accountsHub(t, cfg)
	good, flaky := newReceiver(t, "topsecret", 0), newReceiver(t, "flaky-secret", 2)
	alice, bob := newWebClient(t, h), newWebClient(t, h)
	alice.signIn("alice", "alice-pass-1")
	bob.signIn("bob", "bob-pass-12")
	alice.get("/r/alice/pub")
	if r := alice.post("/r/alice/pub/-/collaborators", url.Values{"user": {"bob"}, "role": {"write"}}); r.Status != 303 {
		t.Fatalf("collaborator: %d", r.Status)
	}
	for _, rc := range []*receiver{good, flaky} {
		r := alice.post("/r/alice/pub/-/webhooks", url.Values{"url": {rc.URL + "/hook"}, "secret": {rc.secret},
			"events": {webhook.Push, webhook.TagDelete, webhook.Visibility}})
		if r.Status != 303 {
			t.Fatalf("add webhook: %d %s", r.Status, r.Body)
		}
	}
	hooks, _ := h.Deps.Meta.Hooks(t.Context(), "alice/pub")
	if len(hooks) != 2 {
		t.Fatalf("hooks: %+v", hooks)
	}
	// Bob may push, not manage: no hooks for him, to see or to make.
	bob.get("/r/alice/pub")
	if page := bob.get("/r/alice/pub"); strings.Contains(page.Body, good.URL) || strings.Contains(page.Body, "Webhooks") {
		t.Errorf("bob sees the webhooks")
	}
	if r := bob.post("/r/alice/pub/-/webhooks", url.Values{"url": {good.URL}, "events": {webhook.Push}}); r.Status != 403 {
		t.Errorf("bob adds a webhook: %d", r.Status)
	}

	if err := pushAs(t, h.Addr+"/alice/pub:v2", "alice", "alice-pass-1", randomImage(t, 1)); err != nil {
		t.Fatal(err)
	}
	got := good.wait(1)
	if p := got[0]; p.Event != webhook.Push || p.Repository != "alice/pub" || p.Actor != "alice" || len(p.Tags) != 1 ||
		p.Tags[0] != "v2" || !strings.HasPrefix(p.Digest, "sha256:") || p.Time.IsZero() {
		t.Errorf("push payload: %+v", p)
	}
	alice.get("/r/alice/pub")
	if r := alice.post("/r/alice/pub/-/tags/delete", url.Values{"tag": {"v2"}}); r.Status != 303 {
		t.Fatalf("tag delete: %d", r.Status)
	}
	if r := alice.post("/r/alice/pub/-/visibility", url.Values{"visibility": {"private"}}); r.Status != 303 {
		t.Fatalf("visibility: %d", r.Status)
	}
	got = good.wait(3)
	byEvent := map[string]webhook.Payload{}
	for _, p := range got {
		byEvent[p.Event] = p
	}
	if p := byEvent[webhook.TagDelete]; p.Tag != "v2" || p.Repository != "alice/pub" || p.Actor != "alice" {
		t.Errorf("tag delete payload: %+v", p)
	}
	if p := byEvent[webhook.Visibility]; p.Visibility != "private" || p.Repository != "alice/pub" {
		t.Errorf("visibility payload: %+v", p)
	}
	// The flaky receiver refused the first two tries of each.
	flaky.wait(3)
	h.Deps.Webhooks.Wait()
	dels, _ := h.Deps.Meta.Deliveries(t.Context(), hooks[1].ID, 10)
	if len(dels) != 3 {
		t.Fatalf("flaky deliveries: %+v", dels)
	}
	for _, d := range dels {
		if d.State != meta.DeliveryOK || d.Attempts != 3 || d.Code != 204 || d.Error != "" {
			t.Errorf("a delivery to the flaky receiver: %+v", d)
		}
	}
	if dels[2].Event != webhook.Push {
		t.Errorf("the first delivery to the flaky receiver: %s", dels[2].Event)
	}

	// The log is on the page; redeliver the first push to the good receiver.
	page := alice.get("/r/alice/pub")
	if !strings.Contains(page.Body, good.URL+"/hook") || strings.Count(page.Body, `class="delivery"`) != 6 || strings.Contains(page.Body, "topsecret") {
		t.Errorf("the delivery log on the page:\n%s", page.Body)
	}
	gdels, _ := h.Deps.Meta.Deliveries(t.Context(), hooks[0].ID, 10)
	pushID := gdels[len(gdels)-1].ID
	if r := alice.post("/r/alice/pub/-/webhooks/redeliver", url.Values{"id": {itoa(pushID)}}); r.Status != 303 {
		t.Fatalf("redeliver: %d", r.Status)
	}
	again := good.wait(4)
	if !reflect.DeepEqual(again[3], got[0]) {
		t.Errorf("redelivered %+v, first sent %+v", again[3], got[0])
	}
	// Bob cannot redeliver, and no one can through another repository.
	bob.get("/r/alice/pub")
	if r := bob.post("/r/alice/pub/-/webhooks/redeliver", url.Values{"id": {itoa(pushID)}}); r.Status != 403 {
		t.Errorf("bob redelivers: %d", r.Status)
	}
	alice.get("/r/alice/priv")
	alice.post("/r/alice/priv/-/webhooks/redeliver", url.Values{"id": {itoa(pushID)}})
	h.Deps.Webhooks.Wait()
	if n := len(good.wait(4)); n != 4 {
		t.Errorf("redelivered through another repository: %d deliveries", n)
	}
	if r := alice.post("/r/alice/pub/-/webhooks/delete", url.Values{"id": {itoa(hooks[1].ID)}}); r.Status != 303 {
		t.Fatalf("delete: %d", r.Status)
	}
	if left, _ := h.Deps.Meta.Hooks(t.Context(), "alice/pub"); len(left) != 1 {
		t.Errorf("after deleting one: %+v", left)
	}
}

// By default a hook may not aim at the hub's own network, nor be anything but http(s).
func TestWebhookTargets(t *testing.T) {
	h, _, _ := accountsHub(t, hub.Config{})
	alice := newWebClient(t, h)
	alice.signIn("alice", "alice-pass-1")
	for _, u := range []string{"http://127.0.0.1:9/hook", "http://localhost/x", "http://10.1.2.3/", "http://[::1]/", "http://169.254.169.254/latest",
		"ftp://example.com/", "file:///etc/passwd", "http://user:pw@example.com/"} {
		alice.get("/r/alice/pub")
		alice.post("/r/alice/pub/-/webhooks", url.Values{"url": {u}, "events": {webhook.Push}})
	}
	if hooks, _ := h.Deps.Meta.Hooks(t.Context(), "alice/pub"); len(hooks) != 0 {
		t.Errorf("hooks made: %+v", hooks)
	}
}
