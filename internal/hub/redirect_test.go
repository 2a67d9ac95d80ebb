package hub_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/strata-dev/strata/internal/hub"
	"github.com/strata-dev/strata/internal/hub/meta"
)

// rawGet sends a request line as given (no client cleans its path) and
// returns the response.
func rawGet(t *testing.T, addr, target string) *http.Response {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", target, addr)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// offSite reports whether a browser following loc would leave the hub.
func offSite(loc string) bool {
	loc = strings.Map(func(r rune) rune { // browsers drop these, and read \ as /
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return -1
		case r == '\\':
			return '/'
		}
		return r
	}, loc)
	u, err := url.Parse(loc)
	return err != nil || u.Host != "" || u.Scheme != "" || !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//")
}

// Every redirect the hub sends stays on the hub: after sign-in (next), the
// sign-in a page asks for, and the path cleaning a router would do. Each
// target is checked as it is sent, after the normalization it gets.
func TestRedirectsStayOnTheHub(t *testing.T) {
	h, _, _ := accountsHub(t, hub.Config{})
	nexts := []string{`/./\evil.example`, `/.//evil.example`, `//evil.example`, `/\evil.example`, `/%5Cevil.example`,
		"/\t/evil.example", "https://evil.example", `/..\evil.example`, "/r/../\\evil.example", "/settings"}
	for _, next := range nexts {
		w := newWebClient(t, h)
		w.get("/signin")
		r := w.post("/signin", url.Values{"name": {"bob"}, "password": {"bob-pass-12"}, "next": {next}})
		if loc := r.Header.Get("Location"); r.Status != 303 || offSite(loc) {
			t.Errorf("sign-in with next=%q: %d to %q", next, r.Status, loc)
		}
	}
	for _, target := range []string{`/./\evil.example`, `/.//evil.example`, `/static/..%5C/evil.example`, `/static/../\evil.example`,
		`/settings/..//evil.example`, `/v2/./\evil.example`, `//evil.example/`, `/auth/token/../\evil.example`, `/r/alice/pub/../\evil.example`,
		"/settings?x=//evil.example", `/new?\evil.example`} {
		resp := rawGet(t, h.Addr, target)
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); loc != "" && offSite(loc) {
			t.Errorf("GET %s: %d to %q", target, resp.StatusCode, loc)
		}
	}
}

// slowForm posts form as w's browser, sending its body in two halves
// with between() run in the middle, and returns the status.
func slowForm(t *testing.T, w *webClient, path string, form url.Values, between func()) int {
	t.Helper()
	u, _ := url.Parse(w.base)
	var cookies []string
	for _, c := range w.c.Jar.Cookies(u) {
		cookies = append(cookies, c.Name+"="+c.Value)
	}
	form.Set("csrf", w.csrf)
	body := form.Encode()
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\nCookie: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		path, u.Host, strings.Join(cookies, "; "), len(body), body[:len(body)/2])
	between()
	fmt.Fprint(c, body[len(body)/2:])
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A form read slowly acts as who its sender is when it arrives, and
// writes only what it changes: an administrator demoted, disabled and
// given a new password while her forms were open gets none of that undone,
// and her admin form no longer works.
func TestSlowFormsActAsWhoYouAreNow(t *testing.T) {
	h, _, _ := accountsHub(t, hub.Config{})
	ctx := context.Background()
	must(t, h.Deps.Auth.CreateUser(ctx, "chief", "chief-pass-12", true))
	w := newWebClient(t, h)
	w.signIn("ops", "ops-pass-12")
	w.get("/admin")
	yes, no := true, false
	hash, _ := h.Deps.Meta.User(ctx, "chief")
	takeAway := func() {
		must(t, h.Deps.Meta.UpdateUser(ctx, "ops", meta.UserChange{Admin: &no}))
		must(t, h.Deps.Meta.UpdateUser(ctx, "ops", meta.UserChange{Disabled: &yes}))
		must(t, h.Deps.Meta.UpdateUser(ctx, "ops", meta.UserChange{PasswordHash: &hash.PasswordHash}))
	}
	if got := slowForm(t, w, "/admin/users", url.Values{"name": {"bob"}, "op": {"promote"}}, takeAway); got == 303 {
		t.Fatal("a demoted administrator's form promoted bob")
	}
	if bob, _ := h.Deps.Meta.User(ctx, "bob"); bob.Admin {
		t.Fatal("bob was promoted")
	}
	must(t, h.Deps.Meta.UpdateUser(ctx, "ops", meta.UserChange{Disabled: &no, Admin: &yes}))
	w = newWebClient(t, h)
	w.signIn("ops", "chief-pass-12")
	w.get("/settings")
	slowForm(t, w, "/settings/visibility", url.Values{"visibility": {"private"}}, func() {
		must(t, h.Deps.Meta.UpdateUser(ctx, "ops", meta.UserChange{Admin: &no}))
	})
	if ops, _ := h.Deps.Meta.User(ctx, "ops"); ops.Admin || ops.PasswordHash != hash.PasswordHash {
		t.Fatalf("the visibility form undid other changes: %+v", ops)
	}
}
