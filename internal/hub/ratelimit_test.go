package hub_test

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/strata-dev/strata/internal/hub"
	"github.com/strata-dev/strata/internal/hub/auth"
	"github.com/strata-dev/strata/internal/testutil"
)

// tokenFrom asks the token endpoint as user with secret, from a client
// address the hub learns through its trusted proxy (the test itself).
func tokenFrom(t *testing.T, h *testutil.Hub, addr, user, secret string) int {
	t.Helper()
	q := url.Values{"service": {"strata-hub"}, "scope": {"repository:alice/priv:pull"}}
	req, _ := http.NewRequest("GET", h.URL()+"/auth/token?"+q.Encode(), nil)
	req.SetBasicAuth(user, secret)
	req.Header.Set("X-Forwarded-For", addr)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Failed sign-ins are limited atomically (a failure is counted before the
// password is checked) and by keys an attacker elsewhere cannot use
// against a user: their address, and the user's name only from addresses
// the user never signed in from; tokens count against the address only.
func TestRateLimitKeys(t *testing.T) {
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	h, _, _ := accountsHub(t, hub.Config{TrustedProxies: loopback,
		Auth: auth.Options{Failures: 10, UserFailures: 20, FailureEvery: time.Hour}})
	pat, err := h.Deps.Auth.CreateToken(context.Background(), "alice", "ci", auth.ScopeRead, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	const home, attacker = "198.51.100.7", "203.0.113.66"
	if got := tokenFrom(t, h, home, "alice", "alice-pass-1"); got != 200 {
		t.Fatalf("alice at home: %d", got)
	}

	// 59 wrong passwords at once from one address: exactly 10 are checked.
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	for range 59 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := tokenFrom(t, h, attacker, "alice", "guess-guess")
			mu.Lock()
			statuses[s]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if statuses[401] != 10 || statuses[429] != 49 {
		t.Fatalf("59 parallel guesses got %v; want 10 checked (401) and 49 refused (429)", statuses)
	}
	for _, tc := range []struct {
		what   string
		addr   string
		user   string
		secret string
		want   int
	}{
		{"the attacker, right password", attacker, "alice", "alice-pass-1", 429},
		{"the attacker as bob", attacker, "bob", "bob-pass-12", 429},
		{"alice at home", home, "alice", "alice-pass-1", 200},
		{"alice's token from anywhere", "192.0.2.200", "alice", pat, 200},
		{"the attacker's /64 neighbour", "2001:db8:1:2::99", "bob", "bob-pass-12", 200},
	} {
		if got := tokenFrom(t, h, tc.addr, tc.user, tc.secret); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.what, got, tc.want)
		}
	}

	// Guesses spread over many addresses (each under its own limit) spend
	// alice's name, but only for addresses she never signed in from.
	for i := range 12 {
		tokenFrom(t, h, netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}).String(), "alice", "guess-guess")
	}
	for _, tc := range []struct {
		what   string
		addr   string
		secret string
		want   int
	}{
		{"alice from a new address", "192.0.2.250", "alice-pass-1", 429},
		{"alice at home", home, "alice-pass-1", 200},
		{"alice's token from a new address", "192.0.2.251", pat, 200},
	} {
		if got := tokenFrom(t, h, tc.addr, "alice", tc.secret); got != tc.want {
			t.Errorf("%s after guesses from many addresses: %d, want %d", tc.what, got, tc.want)
		}
	}

	// An address rotating within one /64 is one address; wrong tokens count too.
	for i := range 11 {
		tokenFrom(t, h, fmt.Sprintf("2001:db8:9:9::%x", i+1), "bob", "strata_pat_wrong")
	}
	if got := tokenFrom(t, h, "2001:db8:9:9::ffff", "alice", pat); got != 429 {
		t.Errorf("a valid token from a /64 that failed 11 times: %d, want 429", got)
	}
	// Success costs nothing: many right sign-ins in a row are never slowed.
	for i := range 30 {
		if got := tokenFrom(t, h, home, "bob", "bob-pass-12"); got != 200 {
			t.Fatalf("bob's sign-in %d: %d", i+1, got)
		}
	}
	// Without a trusted proxy, X-Forwarded-For is the client's to make up: it is ignored.
	h2, _, _ := accountsHub(t, hub.Config{Auth: auth.Options{Failures: 2, FailureEvery: time.Hour}})
	for i := range 3 {
		tokenFrom(t, h2, fmt.Sprint("192.0.2.", i+1), "bob", "guess-guess")
	}
	if got := tokenFrom(t, h2, "192.0.2.99", "alice", "alice-pass-1"); got != 429 {
		t.Errorf("a made-up X-Forwarded-For moved the attacker: %d", got)
	}
}
