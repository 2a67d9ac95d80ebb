package hub_test

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/strata-dev/strata/internal/hub"
	"github.com/strata-dev/strata/internal/testutil"
)

// Nothing private leaks through the catalog: each client lists only what
// it may pull.
func TestNoLeakCatalog(t *testing.T) { testutil.ForEachEngine(t, hub.Config{}, testNoLeakCatalog) }

func testNoLeakCatalog(t *testing.T, cfg hub.Config) {
	h, _, _ := accountsHub(t, cfg)
	list := func(user, secret string) []string {
		tr, _ := getToken(t, h, user, secret, "registry:catalog:*")
		r := call(t, "GET", h.URL()+"/v2/_catalog", tr.Token, nil)
		var c struct{ Repositories []string }
		if err := json.Unmarshal([]byte(r.Body), &c); err != nil || r.Status != 200 {
			t.Fatalf("catalog as %q: %d %s", user, r.Status, r.Body)
		}
		return c.Repositories
	}
	for _, tc := range []struct {
		user, secret string
		want         []string
	}{
		{"", "", []string{"alice/pub"}},
		{"bob", "bob-pass-12", []string{"alice/pub"}},
		{"alice", "alice-pass-1", []string{"alice/priv", "alice/pub"}},
		{"ops", "ops-pass-12", []string{"alice/priv", "alice/pub"}},
	} {
		if got := list(tc.user, tc.secret); !slices.Equal(got, tc.want) {
			t.Errorf("catalog as %q = %v, want %v", tc.user, got, tc.want)
		}
	}
	// Without a token, the catalog is public too.
	if r := call(t, "GET", h.URL()+"/v2/_catalog", "", nil); r.Status != 200 || strings.Contains(r.Body, "priv") {
		t.Errorf("catalog without a token: %d %s", r.Status, r.Body)
	}
}

// A private repository answers exactly as one that does not exist, on
// every endpoint, to anonymous clients and to other users: status,
// challenge and body, with the name the only difference. The token
// service grants the same nothing for both.
func TestNoLeakPrivateVersusMissing(t *testing.T) {
	testutil.ForEachEngine(t, hub.Config{}, testNoLeakPrivateVersusMissing)
}

func testNoLeakPrivateVersusMissing(t *testing.T, cfg hub.Config) {
	h, _, priv := accountsHub(t, cfg)
	for _, user := range [][2]string{{"", ""}, {"bob", "bob-pass-12"}} {
		for _, e := range endpoints {
			if e.action == "ping" || e.action == "catalog" {
				continue
			}
			answer := func(repo string) string {
				tr, r := getToken(t, h, user[0], user[1], "repository:"+repo+":pull,push,delete")
				if r.Status != 200 {
					t.Fatalf("token: %d %s", r.Status, r.Body)
				}
				if got := accessOf(claimsOf2(t, tr.Token)); len(got) != 0 {
					t.Fatalf("%q was granted %v on %s", user[0], got, repo)
				}
				var body []byte
				var header []string
				if e.body != nil {
					body, header = e.body(priv), e.header(priv)
				}
				method, _, _ := strings.Cut(e.key, " ")
				r = call(t, method, h.URL()+e.path(repo, priv), tr.Token, body, header...)
				return strings.ReplaceAll(fmtReply(r), repo, "REPO")
			}
			if a, b := answer("alice/priv"), answer("alice/none"); a != b {
				t.Errorf("as %q, %s tells a private repository from a missing one:\n%s\n%s", user[0], e.key, a, b)
			}
		}
	}
}

func fmtReply(r reply) string {
	return strings.Join([]string{
		strconv.Itoa(r.Status), r.Header.Get("WWW-Authenticate"), r.Header.Get("Content-Type"),
		r.Header.Get("Content-Length"), r.Body}, "|")
}

// A blob of a private repository cannot be fetched by its digest through
// another repository, nor named by a manifest pushed elsewhere.
func TestNoLeakBlobThroughAnotherRepository(t *testing.T) {
	testutil.ForEachEngine(t, hub.Config{}, testNoLeakBlobThroughAnotherRepository)
}

func testNoLeakBlobThroughAnotherRepository(t *testing.T, cfg hub.Config) {
	h, _, priv := accountsHub(t, cfg)
	if err := pushAs(t, h.Addr+"/bob/pub:v1", "bob", "bob-pass-12", randomImage(t, 1)); err != nil {
		t.Fatal(err)
	}
	tr, _ := getToken(t, h, "bob", "bob-pass-12", "repository:bob/pub:pull,push")
	for _, method := range []string{"GET", "HEAD"} {
		r := call(t, method, h.URL()+"/v2/bob/pub/blobs/"+priv.Layer.String(), tr.Token, nil)
		if r.Status != 404 {
			t.Errorf("%s of alice's private layer through bob/pub: %d %s", method, r.Status, r.Body)
		}
	}
	r := call(t, "PUT", h.URL()+"/v2/bob/pub/manifests/stolen", tr.Token, priv.Manifest, "Content-Type", priv.MediaType)
	if r.Status != 400 || !strings.Contains(r.Body, "MANIFEST_BLOB_UNKNOWN") {
		t.Errorf("a manifest naming alice's private blobs pushed to bob/pub: %d %s", r.Status, r.Body)
	}
}

// A cross-repository mount from a private source (or, without from, from
// no public one) becomes a plain upload, exactly as from a missing one.
func TestNoLeakMountFromPrivate(t *testing.T) {
	testutil.ForEachEngine(t, hub.Config{}, testNoLeakMountFromPrivate)
}

func testNoLeakMountFromPrivate(t *testing.T, cfg hub.Config) {
	h, _, priv := accountsHub(t, cfg)
	tr, _ := getToken(t, h, "bob", "bob-pass-12", "repository:bob/x:pull,push", "repository:alice/priv:pull", "repository:alice/none:pull")
	for _, from := range []string{"alice/priv", "alice/none", ""} {
		q := "?mount=" + priv.Layer.String()
		if from != "" {
			q += "&from=" + from
		}
		r := call(t, "POST", h.URL()+"/v2/bob/x/blobs/uploads/"+q, tr.Token, nil)
		if r.Status != 202 || !strings.HasPrefix(r.Header.Get("Location"), "/v2/bob/x/blobs/uploads/") {
			t.Errorf("mount from %q: %d %v %s; want a plain upload (202)", from, r.Status, r.Header, r.Body)
		}
		if r := call(t, "HEAD", h.URL()+"/v2/bob/x/blobs/"+priv.Layer.String(), tr.Token, nil); r.Status != 404 {
			t.Errorf("after a mount from %q the private layer is in bob/x: %d", from, r.Status)
		}
	}
	// The owner mounts from her own private repository.
	tr, _ = getToken(t, h, "alice", "alice-pass-1", "repository:alice/copy:pull,push", "repository:alice/priv:pull")
	r := call(t, "POST", h.URL()+"/v2/alice/copy/blobs/uploads/?mount="+priv.Layer.String()+"&from=alice/priv", tr.Token, nil)
	if r.Status != 201 {
		t.Errorf("alice mounting from her own private repository: %d %s", r.Status, r.Body)
	}
}
