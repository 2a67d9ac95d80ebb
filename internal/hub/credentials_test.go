package hub_test

import (
	"context"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/strata-dev/strata/internal/hub"
	"github.com/strata-dev/strata/internal/hub/auth"
	"github.com/strata-dev/strata/internal/hub/meta"
	"github.com/strata-dev/strata/internal/testutil"
)

// A bearer token dies with the credential generation it was made from:
// a new password, a revoked token, disabling (enabling again revives
// nothing), or its user deleted and made again under the same name. A
// revoked token's id is never given to another, so its bearer tokens
// never come back to life.
func TestBearerTokensDieWithTheirGeneration(t *testing.T) {
	ctx := context.Background()
	yes, no := true, false
	for _, tc := range []struct {
		name   string
		secret func(h *testutil.Hub) string // what alice logs in with
		end    func(t *testing.T, h *testutil.Hub)
	}{
		{"a new password", password, func(t *testing.T, h *testutil.Hub) {
			must(t, h.Deps.Auth.SetPassword(ctx, "alice", "alice-pass-2"))
		}},
		{"disabled, then enabled", password, func(t *testing.T, h *testutil.Hub) {
			must(t, h.Deps.Meta.UpdateUser(ctx, "alice", meta.UserChange{Disabled: &yes}))
			must(t, h.Deps.Meta.UpdateUser(ctx, "alice", meta.UserChange{Disabled: &no}))
		}},
		{"deleted and made again", password, func(t *testing.T, h *testutil.Hub) {
			must(t, h.Deps.Meta.DeleteUser(ctx, "alice"))
			must(t, h.Deps.Auth.CreateUser(ctx, "alice", "alice-pass-1", false))
		}},
		{"its access token revoked, another made", patOf, func(t *testing.T, h *testutil.Hub) {
			list, _ := h.Deps.Meta.Credentials(ctx, "alice", meta.KindToken)
			must(t, h.Deps.Meta.DeleteCredential(ctx, "alice", list[0].ID))
			_, err := h.Deps.Auth.CreateToken(ctx, "alice", "next", auth.ScopeRead, time.Time{})
			must(t, err)
		}},
		{"its access token's user disabled, then enabled", patOf, func(t *testing.T, h *testutil.Hub) {
			must(t, h.Deps.Meta.UpdateUser(ctx, "alice", meta.UserChange{Disabled: &yes}))
			must(t, h.Deps.Meta.UpdateUser(ctx, "alice", meta.UserChange{Disabled: &no}))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _, _ := accountsHub(t, hub.Config{})
			secret := tc.secret(h)
			tr, r := getToken(t, h, "alice", secret, "repository:alice/pub:pull")
			if r.Status != 200 {
				t.Fatalf("token: %d %s", r.Status, r.Body)
			}
			offline, r := postToken(t, h, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {secret},
				"client_id": {"docker"}, "access_type": {"offline"}})
			if r.Status != 200 || offline.RefreshToken == "" {
				t.Fatalf("refresh token: %d %s", r.Status, r.Body)
			}
			tags := h.URL() + "/v2/alice/pub/tags/list"
			if got := call(t, "GET", tags, tr.Token, nil); got.Status != 200 {
				t.Fatalf("before: %d", got.Status)
			}
			tc.end(t, h)
			if got := call(t, "GET", tags, tr.Token, nil); got.Status != 401 {
				t.Fatalf("the bearer token after %s: %d", tc.name, got.Status)
			}
			if _, r := postToken(t, h, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {offline.RefreshToken}}); r.Status != 401 {
				t.Fatalf("the refresh token after %s: %d", tc.name, r.Status)
			}
		})
	}
}

func password(*testutil.Hub) string { return "alice-pass-1" }

func patOf(h *testutil.Hub) string {
	secret, err := h.Deps.Auth.CreateToken(context.Background(), "alice", "first", auth.ScopeReadWrite, time.Time{})
	if err != nil {
		panic(err)
	}
	return secret
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Re-enabling a user revives no web session; the settings page lists
// docker logins (refresh tokens) and browsers, and revokes each.
func TestLoginsOnTheSettingsPage(t *testing.T) {
	h, _, _ := accountsHub(t, hub.Config{})
	ctx := context.Background()
	browser := newWebClient(t, h)
	browser.signIn("alice", "alice-pass-1")
	offline, r := postToken(t, h, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pass-1"},
		"client_id": {"docker"}, "access_type": {"offline"}})
	if r.Status != 200 {
		t.Fatal(r.Body)
	}
	page := browser.get("/settings")
	if !strings.Contains(page.Body, "<h2>Logins</h2>") || !strings.Contains(page.Body, "<strong>docker</strong>") ||
		!strings.Contains(page.Body, "this browser") {
		t.Fatalf("the settings page lists no logins or browsers:\n%s", page.Body)
	}
	logins, _ := h.Deps.Meta.Credentials(ctx, "alice", meta.KindRefresh)
	if len(logins) != 1 || !regexp.MustCompile(`name="id" value="`+itoa(logins[0].ID)+`"`).MatchString(page.Body) {
		t.Fatalf("no revoke form for the login %+v", logins)
	}
	if r := browser.post("/settings/tokens/revoke", url.Values{"id": {itoa(logins[0].ID)}}); r.Status != 303 {
		t.Fatalf("revoking the login: %d", r.Status)
	}
	if _, r := postToken(t, h, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {offline.RefreshToken}}); r.Status != 401 {
		t.Fatalf("a revoked login refreshed: %d", r.Status)
	}
	// bob cannot revoke alice's session by its id.
	sessions, _ := h.Deps.Meta.Credentials(ctx, "alice", meta.KindSession)
	bob := newWebClient(t, h)
	bob.signIn("bob", "bob-pass-12")
	bob.post("/settings/tokens/revoke", url.Values{"id": {itoa(sessions[0].ID)}})
	if r := browser.get("/settings"); r.Status != 200 {
		t.Fatalf("bob signed alice out: %d", r.Status)
	}
	yes, no := true, false
	h.Deps.Meta.UpdateUser(ctx, "alice", meta.UserChange{Disabled: &yes})
	h.Deps.Meta.UpdateUser(ctx, "alice", meta.UserChange{Disabled: &no})
	if r := browser.get("/settings"); r.Status != 303 {
		t.Fatalf("a session from before alice was disabled, after she was enabled again: %d", r.Status)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
