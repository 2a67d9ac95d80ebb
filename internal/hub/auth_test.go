package hub_test

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/strata-dev/strata/internal/hub"
	"github.com/strata-dev/strata/internal/hub/auth"
	"github.com/strata-dev/strata/internal/hub/meta"
	"github.com/strata-dev/strata/internal/testutil"
)

// pushAs writes img to ref with go-containerregistry, logged in as user.
func pushAs(t *testing.T, ref, user, secret string, img v1.Image) error {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	return remote.Write(r, img, remote.WithAuth(&authn.Basic{Username: user, Password: secret}))
}

// accountsHub is a hub with ops (admin), alice and bob, alice/pub
// (public) and alice/priv (private) holding one image each.
func accountsHub(t *testing.T, cfg hub.Config) (*testutil.Hub, seeded, seeded) {
	t.Helper()
	h := testutil.StartAccountsHub(t, cfg, [2]string{"ops", "ops-pass-12"}, [2]string{"alice", "alice-pass-1"},
		[2]string{"bob", "bob-pass-12"})
	pub, priv := randomImage(t, 1), randomImage(t, 1)
	if err := pushAs(t, h.Addr+"/alice/pub:v1", "alice", "alice-pass-1", pub); err != nil {
		t.Fatal(err)
	}
	if err := pushAs(t, h.Addr+"/alice/priv:v1", "alice", "alice-pass-1", priv); err != nil {
		t.Fatal(err)
	}
	setVisibility(t, h, "alice/priv", meta.Private)
	return h, seed(t, pub), seed(t, priv)
}

func setVisibility(t *testing.T, h *testutil.Hub, repo string, v meta.Visibility) {
	t.Helper()
	if err := h.Deps.Meta.UpdateRepository(context.Background(), repo, meta.RepoChange{Visibility: &v}); err != nil {
		t.Fatal(err)
	}
}

func TestTokenService(t *testing.T) {
	h, _, _ := accountsHub(t, hub.Config{})
	base := call(t, "GET", h.URL()+"/v2/", "", nil)
	want := `Bearer realm="` + h.URL() + `/auth/token",service="strata-hub"`
	if base.Status != 401 || base.Header.Get("WWW-Authenticate") != want {
		t.Fatalf("/v2/ = %d %q, want 401 %q", base.Status, base.Header.Get("WWW-Authenticate"), want)
	}
	// Anonymous: pull of the public repository only; the rest is not an error.
	tr, r := getToken(t, h, "", "", "repository:alice/pub:pull,push", "repository:alice/priv:pull", "registry:catalog:*", "bogus")
	if r.Status != 200 {
		t.Fatalf("anonymous token: %d %s", r.Status, r.Body)
	}
	hdr, claims := claimsOf(t, tr.Token)
	if hdr["alg"] != "ES256" || hdr["kid"] == "" || tr.Token != tr.AccessToken || tr.ExpiresIn != 300 || tr.RefreshToken != "" {
		t.Fatalf("token header %v, reply %+v", hdr, tr)
	}
	if got := accessOf(claims); !slices.Equal(got, []string{"repository:alice/pub:pull", "registry:catalog:*"}) {
		t.Fatalf("anonymous grant = %v", got)
	}
	if exp, iat := claims["exp"].(float64), claims["iat"].(float64); exp-iat != 300 || claims["iss"] != "strata-hub" || claims["sub"] != nil {
		t.Fatalf("claims %v", claims)
	}
	if call(t, "GET", h.URL()+"/v2/", tr.Token, nil).Status != 200 {
		t.Fatal("/v2/ refused an anonymous token")
	}
	// The owner gets everything asked, bob only what is public.
	tr, _ = getToken(t, h, "alice", "alice-pass-1", "repository:alice/priv:pull,push,delete", "repository:alice/new:push")
	if got := accessOf(claimsOf2(t, tr.Token)); !slices.Equal(got, []string{"repository:alice/priv:pull,push,delete", "repository:alice/new:push"}) {
		t.Fatalf("alice's grant = %v", got)
	}
	tr, _ = getToken(t, h, "bob", "bob-pass-12", "repository:alice/pub:pull,push", "repository:alice/priv:pull")
	if got := accessOf(claimsOf2(t, tr.Token)); !slices.Equal(got, []string{"repository:alice/pub:pull"}) {
		t.Fatalf("bob's grant = %v", got)
	}
	if _, r := getToken(t, h, "bob", "wrong-password"); r.Status != 401 || !strings.Contains(r.Body, "UNAUTHORIZED") {
		t.Fatalf("a wrong password: %d %s", r.Status, r.Body)
	}
	if _, r := getToken(t, h, "nobody", "whatever-1"); r.Status != 401 {
		t.Fatalf("an unknown user: %d %s", r.Status, r.Body)
	}
	q := url.Values{"service": {"elsewhere"}}
	if r := call(t, "GET", h.URL()+"/auth/token?"+q.Encode(), "", nil); r.Status != 400 || !strings.Contains(r.Body, "elsewhere") {
		t.Fatalf("another service: %d %s", r.Status, r.Body)
	}
}

func claimsOf2(t *testing.T, tok string) map[string]any {
	_, c := claimsOf(t, tok)
	return c
}

// accessOf writes a token's access claim as scopes.
func accessOf(claims map[string]any) []string {
	var out []string
	list, _ := claims["access"].([]any)
	for _, e := range list {
		m := e.(map[string]any)
		var actions []string
		for _, a := range m["actions"].([]any) {
			actions = append(actions, a.(string))
		}
		out = append(out, m["type"].(string)+":"+m["name"].(string)+":"+strings.Join(actions, ","))
	}
	return out
}

// The OAuth2 form: a password grant with access_type=offline gives a
// refresh token; the refresh grant works until the token is revoked.
func TestTokenServiceOAuth(t *testing.T) {
	h, _, _ := accountsHub(t, hub.Config{})
	tr, r := postToken(t, h, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pass-1"},
		"service": {"strata-hub"}, "client_id": {"test"}, "access_type": {"offline"},
		"scope": {"repository:alice/priv:pull repository:bob/x:push"}})
	if r.Status != 200 || tr.RefreshToken == "" || tr.Scope != "repository:alice/priv:pull" {
		t.Fatalf("password grant: %d %s", r.Status, r.Body)
	}
	tr2, r := postToken(t, h, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken},
		"service": {"strata-hub"}, "client_id": {"test"}, "scope": {"repository:alice/priv:pull,push"}})
	if r.Status != 200 || tr2.Scope != "repository:alice/priv:pull,push" {
		t.Fatalf("refresh grant: %d %s", r.Status, r.Body)
	}
	if got := call(t, "GET", h.URL()+"/v2/alice/priv/tags/list", tr2.AccessToken, nil); got.Status != 200 {
		t.Fatalf("tags with a refreshed token: %d %s", got.Status, got.Body)
	}
	// A new password signs every refresh token out, and the bearer tokens they made.
	if err := h.Deps.Auth.SetPassword(context.Background(), "alice", "alice-pass-2"); err != nil {
		t.Fatal(err)
	}
	if _, r := postToken(t, h, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}}); r.Status != 401 {
		t.Fatalf("a revoked refresh token: %d %s", r.Status, r.Body)
	}
	if got := call(t, "GET", h.URL()+"/v2/alice/priv/tags/list", tr2.AccessToken, nil); got.Status != 401 {
		t.Fatalf("a bearer token from a revoked refresh token: %d", got.Status)
	}
	if _, r := postToken(t, h, url.Values{"grant_type": {"client_credentials"}}); r.Status != 400 {
		t.Fatalf("an unknown grant: %d %s", r.Status, r.Body)
	}
}

// Personal access tokens: a password for docker and strata login, limited
// to their scope, refused once expired or revoked, with the user's name only.
func TestAccessTokens(t *testing.T) {
	h, _, _ := accountsHub(t, hub.Config{})
	ctx := context.Background()
	a := h.Deps.Auth
	ro, err := a.CreateToken(ctx, "alice", "ci", auth.ScopeRead, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	rw, _ := a.CreateToken(ctx, "alice", "deploy", auth.ScopeReadWrite, time.Now().Add(time.Hour))
	tr, r := getToken(t, h, "alice", ro, "repository:alice/priv:pull,push,delete")
	if r.Status != 200 || !slices.Equal(accessOf(claimsOf2(t, tr.Token)), []string{"repository:alice/priv:pull"}) {
		t.Fatalf("read-only token: %d %s", r.Status, r.Body)
	}
	tr, _ = getToken(t, h, "alice", rw, "repository:alice/priv:pull,push,delete")
	if got := accessOf(claimsOf2(t, tr.Token)); !slices.Equal(got, []string{"repository:alice/priv:pull,push"}) {
		t.Fatalf("read-write token grant = %v", got)
	}
	if _, r := getToken(t, h, "bob", rw); r.Status != 401 {
		t.Fatalf("alice's token used as bob: %d", r.Status)
	}
	if err := pushAs(t, h.Addr+"/alice/pub:ro", "alice", ro, randomImage(t, 1)); err == nil {
		t.Fatal("a read-only token pushed")
	}
	if err := pushAs(t, h.Addr+"/alice/pub:rw", "alice", rw, randomImage(t, 1)); err != nil {
		t.Fatalf("a read-write token could not push: %v", err)
	}
	list, _ := h.Deps.Meta.Credentials(ctx, "alice", meta.KindToken)
	if len(list) != 2 || list[0].LastUsedAt.IsZero() {
		t.Fatalf("tokens %+v: want two, the newest used", list)
	}
	if err := h.Deps.Meta.DeleteCredential(ctx, "alice", list[0].ID); err != nil {
		t.Fatal(err)
	}
	if got := call(t, "GET", h.URL()+"/v2/alice/priv/tags/list", tr.Token, nil); got.Status != 401 {
		t.Fatalf("a bearer token of a revoked access token still works: %d", got.Status)
	}
	if _, r := getToken(t, h, "alice", rw); r.Status != 401 {
		t.Fatalf("a revoked token: %d", r.Status)
	}
	if _, err := a.CreateToken(ctx, "alice", "old", auth.ScopeRead, time.Now().Add(-time.Minute)); err == nil {
		t.Fatal("a token that expired before it was made")
	}
}

// A disabled user can neither get a token nor use one got before.
func TestDisabledUser(t *testing.T) {
	h, _, _ := accountsHub(t, hub.Config{})
	tr, _ := getToken(t, h, "alice", "alice-pass-1", "repository:alice/priv:pull")
	disabled := true
	h.Deps.Meta.UpdateUser(context.Background(), "alice", meta.UserChange{Disabled: &disabled})
	if _, r := getToken(t, h, "alice", "alice-pass-1"); r.Status != 401 {
		t.Fatalf("a disabled user got a token: %d", r.Status)
	}
	if r := call(t, "GET", h.URL()+"/v2/alice/priv/tags/list", tr.Token, nil); r.Status != 401 {
		t.Fatalf("a disabled user's token still works: %d", r.Status)
	}
}

// Failed sign-ins are limited per address and name: then even the right
// password waits, with a Retry-After.
func TestTokenRateLimit(t *testing.T) {
	h, _, _ := accountsHub(t, hub.Config{Auth: auth.Options{Failures: 3, FailureEvery: time.Hour}})
	for i := range 3 {
		if _, r := getToken(t, h, "alice", "guess-"+string(rune('a'+i))); r.Status != 401 {
			t.Fatalf("guess %d: %d", i, r.Status)
		}
	}
	_, r := getToken(t, h, "alice", "alice-pass-1")
	if r.Status != 429 || r.Header.Get("Retry-After") == "" || !strings.Contains(r.Body, "TOOMANYREQUESTS") {
		t.Fatalf("after 3 failures: %d %v %s", r.Status, r.Header, r.Body)
	}
	if r := call(t, "GET", h.URL()+"/v2/alice/pub/tags/list", "", nil); r.Status != 200 {
		t.Fatalf("anonymous pulls are not limited: %d", r.Status)
	}
}

// The signing key is made on first start and kept: a token outlives a restart.
func TestSigningKeyKept(t *testing.T) {
	dir := t.TempDir()
	cfg := hub.Config{DataDir: dir, Auth: auth.Options{HashParams: testutil.CheapHashes}}
	kid := func() string {
		deps, err := hub.Open(context.Background(), cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer deps.Meta.Close()
		kid, err := deps.Auth.KeyID(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return kid
	}
	first, second := kid(), kid()
	if first == "" || first != second {
		t.Fatalf("key ids %q, %q", first, second)
	}
}

// /v1/search pages as Docker Hub does (n results a page, page from 1),
// counts what the caller may pull, and refuses a page size out of range.
func TestSearchPaging(t *testing.T) {
	h, _, _ := accountsHub(t, hub.Config{})
	tr, r := getToken(t, h, "alice", "alice-pass-1", "registry:catalog:search")
	if r.Status != 200 {
		t.Fatalf("token: %d %s", r.Status, r.Body)
	}
	for _, tc := range []struct {
		query, tok string
		status     int
		want       string
	}{
		{"q=alice&n=1", tr.Token, 200, `{"num_results":2,"num_pages":2,"page":1,"page_size":1,"query":"alice","results":[{"name":"alice/priv","description":"","star_count":0,"is_official":false,"is_automated":false}]}`},
		{"q=alice&n=1&page=2", tr.Token, 200, `"page":2,"page_size":1,"query":"alice","results":[{"name":"alice/pub"`},
		{"q=alice&n=1&page=3", tr.Token, 200, `"page":3,"page_size":1,"query":"alice","results":[]}`},
		{"q=ALICE", "", 200, `{"num_results":1,"num_pages":1,"page":1,"page_size":25,"query":"ALICE","results":[{"name":"alice/pub"`},
		{"q=alice&n=0", "", 400, "PAGINATION_NUMBER_INVALID"},
		{"q=alice&n=101", "", 400, "PAGINATION_NUMBER_INVALID"},
		{"q=alice&page=0", "", 400, "PAGINATION_NUMBER_INVALID"},
		{"q=alice&n=x", "", 400, "PAGINATION_NUMBER_INVALID"},
	} {
		r := call(t, "GET", h.URL()+"/v1/search?"+tc.query, tc.tok, nil)
		if r.Status != tc.status || !strings.Contains(r.Body, tc.want) {
			t.Errorf("/v1/search?%s: %d %s, want %d with %s", tc.query, r.Status, r.Body, tc.status, tc.want)
		}
	}
	if r := call(t, "POST", h.URL()+"/v1/search?q=alice", "", nil); r.Status != 405 {
		t.Errorf("POST /v1/search: %d", r.Status)
	}
}
