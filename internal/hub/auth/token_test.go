package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/strata-dev/strata/internal/hub/access"
	"github.com/strata-dev/strata/internal/hub/distapi"
	"github.com/strata-dev/strata/internal/hub/errcode"
	"github.com/strata-dev/strata/internal/hub/meta"
)

// world is a hub's accounts for the fuzz targets: carol is an
// administrator; alice owns alice/pub (public) and alice/priv (private),
// which bob may read; alice also has a read-only access token. Sign-in
// limits are out of the way.
type world struct {
	s      *Service
	clock  *clock
	ids    []Identity        // anonymous, alice, alice's read token, bob, carol
	issued map[string]claims // the tokens the test made, by their id (jti)
	tokens []string          // the same tokens
	pat    string            // alice's read-only access token
}

const alicePassword = "alice-pass-1"

func newWorld(tb testing.TB) *world {
	tb.Helper()
	ss, m, c := nodes(tb, 1, Options{HashParams: &HashParams{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32},
		Failures: 1 << 30, UserFailures: 1 << 30})
	w := &world{s: ss[0], clock: c, issued: map[string]claims{}}
	ctx := context.Background()
	must := func(err error) {
		if err != nil {
			tb.Fatal(err)
		}
	}
	must(w.s.CreateUser(ctx, "carol", "carol-pass-1", true))
	must(w.s.CreateUser(ctx, "alice", alicePassword, false))
	must(w.s.CreateUser(ctx, "bob", "bob-pass-12", false))
	must(m.CreateRepository(ctx, meta.Repository{Name: "alice/pub", Owner: "alice", Visibility: meta.Public, CreatedAt: c.Now()}))
	must(m.CreateRepository(ctx, meta.Repository{Name: "alice/priv", Owner: "alice", Visibility: meta.Private, CreatedAt: c.Now()}))
	must(m.SetCollaborator(ctx, "alice/priv", "bob", meta.RoleRead))
	var err error
	w.pat, err = w.s.CreateToken(ctx, "alice", "ci", ScopeRead, time.Time{})
	must(err)
	alice, err := w.s.Basic(ctx, "192.0.2.1", "alice", alicePassword)
	must(err)
	pat, err := w.s.Basic(ctx, "192.0.2.1", "alice", w.pat)
	must(err)
	bob, err := m.User(ctx, "bob")
	must(err)
	carol, err := m.User(ctx, "carol")
	must(err)
	w.ids = []Identity{{}, alice, pat, {User: bob}, {User: carol}}
	for _, id := range w.ids {
		for _, scope := range []string{"repository:alice/pub:pull", "repository:alice/priv:pull,push,delete registry:catalog:*", ""} {
			granted, err := w.s.grant(ctx, id, parseScopes([]string{scope}))
			must(err)
			w.issue(tb, id, granted)
		}
	}
	return w
}

// issue makes a token as the token service does and keeps its claims.
func (w *world) issue(tb testing.TB, id Identity, granted []ResourceActions) string {
	tb.Helper()
	tok, _, err := w.s.issue(context.Background(), id, granted)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := w.s.verify(context.Background(), tok)
	if err != nil {
		tb.Fatal(err)
	}
	w.issued[c.ID] = *c
	w.tokens = append(w.tokens, tok)
	return tok
}

// forgedTokens are bearer tokens the hub must refuse, each made as an
// attacker would: another hub's key, no signature, the public key used as
// an HMAC secret, an expired token, a token for another audience, claims
// changed under a good signature. control is made the same way with
// nothing changed, and is accepted.
func forgedTokens(tb testing.TB, w *world) (forged map[string]string, control string) {
	tb.Helper()
	ctx := context.Background()
	alice := w.ids[1]
	all := []ResourceActions{{Type: "repository", Name: "alice/priv", Actions: []string{"pull", "push", "delete"}}}
	other := newWorld(tb)
	out := map[string]string{"another hub's key": other.issue(tb, alice, all)}

	good := w.issue(tb, alice, nil)
	head, payload, _ := strings.Cut(good, ".")
	var c map[string]any
	b, _ := base64.RawURLEncoding.DecodeString(strings.Split(payload, ".")[0])
	json.Unmarshal(b, &c)
	c["access"] = all
	c["sub"] = "carol"
	raised, _ := json.Marshal(c)
	out["claims changed under a good signature"] = head + "." + base64.RawURLEncoding.EncodeToString(raised) + "." + strings.Split(good, ".")[2]

	kid, _ := w.s.KeyID(ctx)
	none := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims(c))
	none.Header["kid"] = kid
	out["alg none"], _ = none.SignedString(jwt.UnsafeAllowNoneSignatureType)

	pub := w.s.keys.find(kid)
	der, _ := pub.ECDH()
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(c))
	hs.Header["kid"] = kid
	out["HS256 with the public key as secret"], _ = hs.SignedString(der.Bytes())

	key, err := w.s.keys.signer(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	signed := func(change func(map[string]any)) string {
		m := map[string]any{}
		for k, v := range c {
			m[k] = v
		}
		change(m)
		t := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims(m))
		t.Header["kid"] = key.ID
		s, err := t.SignedString(key.private)
		if err != nil {
			tb.Fatal(err)
		}
		return s
	}
	now := w.clock.Now().Unix()
	out["expired"] = signed(func(m map[string]any) { m["exp"], m["iat"], m["nbf"] = now-60, now-360, now-360 })
	out["not valid yet"] = signed(func(m map[string]any) { m["nbf"], m["iat"] = now+60, now+60 })
	out["no expiry"] = signed(func(m map[string]any) { delete(m, "exp") })
	out["another audience"] = signed(func(m map[string]any) { m["aud"] = []string{"another-hub"} })
	out["another issuer"] = signed(func(m map[string]any) { m["iss"] = "another-hub" })
	out["an unknown key id"] = strings.Replace(good, head, base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"ES256","kid":"nope","typ":"JWT"}`)), 1)
	return out, signed(func(map[string]any) {})
}

func TestVerifyRefusesForgedTokens(t *testing.T) {
	w := newWorld(t)
	forged, control := forgedTokens(t, w)
	if _, err := w.s.verify(context.Background(), control); err != nil {
		t.Fatalf("the control token is refused: %v", err)
	}
	for what, tok := range forged {
		if c, err := w.s.verify(context.Background(), tok); err == nil {
			t.Errorf("%s: verify accepted %+v", what, c)
		}
	}
}

// FuzzBearerToken: a bearer token is accepted only when the hub's key
// signed it: checked again here with crypto/ecdsa on the signing input,
// and its claims are those of a token the hub issued (the fuzzer mints
// nothing). The Bearer header carrying it proves the token's subject.
func FuzzBearerToken(f *testing.F) {
	w := newWorld(f)
	for _, tok := range w.tokens {
		f.Add(tok)
	}
	forged, _ := forgedTokens(f, w)
	for _, tok := range forged {
		f.Add(tok)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := w.s.verify(ctx, tok)
		if err != nil {
			return
		}
		want, ok := w.issued[c.ID]
		if !ok || !reflect.DeepEqual(*c, want) {
			t.Fatalf("verify(%q) accepted claims %+v the hub never issued", tok, c)
		}
		parts := strings.Split(tok, ".")
		if len(parts) != 3 {
			t.Fatalf("verify(%q) accepted %d parts", tok, len(parts))
		}
		var head struct{ Alg, Kid string }
		b, err := base64.RawURLEncoding.DecodeString(parts[0])
		if err != nil || json.Unmarshal(b, &head) != nil || head.Alg != "ES256" {
			t.Fatalf("verify(%q) accepted header %s (%v)", tok, b, err)
		}
		pub := w.s.keys.find(head.Kid)
		sig, err := base64.RawURLEncoding.DecodeString(parts[2])
		digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		if pub == nil || err != nil || len(sig) != 64 ||
			!ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
			t.Fatalf("verify(%q) accepted a token the key %q did not sign", tok, head.Kid)
		}
		r := httptest.NewRequest("GET", "/v2/", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		id, got, err := w.s.requestIdentity(ctx, r)
		if err != nil || got == nil || id.User.Name != c.Subject {
			t.Fatalf("Bearer %q: %+v, %v; want %q", tok, id, err, c.Subject)
		}
	})
}

// FuzzAuthorization: whatever the Authorization header, a request is
// anonymous, or the user whose password, access token or bearer token it
// carries, or a 401; never another error.
func FuzzAuthorization(f *testing.F) {
	w := newWorld(f)
	basic := func(user, pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	for _, h := range []string{"", basic("alice", alicePassword), basic("alice", w.pat), basic("bob", alicePassword),
		basic("bob", w.pat), basic("alice", ""), basic("", ""), "Basic", "Basic !!", "basic " + base64.StdEncoding.EncodeToString([]byte("alice")),
		"Bearer " + w.tokens[3], "bearer  " + w.tokens[4], "Bearer", "Bearer x.y.z", "Digest username=alice", "Token abc"} {
		f.Add(h)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, h string) {
		r := httptest.NewRequest("GET", "/v2/", nil)
		r.Header["Authorization"] = []string{h}
		id, tok, err := w.s.requestIdentity(ctx, r)
		if err != nil {
			var e *errcode.Error
			if !errors.As(err, &e) || e.Code.Status != 401 || e.Header.Get("WWW-Authenticate") == "" {
				t.Fatalf("Authorization %q: %v; want a 401 with a challenge", h, err)
			}
			return
		}
		if id.Anonymous() {
			if h != "" || tok != nil {
				if tok == nil || tok.Subject != "" {
					t.Fatalf("Authorization %q: anonymous with token %+v", h, tok)
				}
			}
			return
		}
		scheme, _, _ := strings.Cut(h, " ")
		switch user, pass, ok := r.BasicAuth(); {
		case tok != nil:
			if !strings.EqualFold(scheme, "Bearer") || tok.Subject != id.User.Name || w.issued[tok.ID].Subject != id.User.Name {
				t.Fatalf("Authorization %q: %s by a token for %q", h, id.User.Name, tok.Subject)
			}
		case !ok || user != id.User.Name:
			t.Fatalf("Authorization %q: %s, but Basic credentials name %q", h, id.User.Name, user)
		case user == "alice" && (pass == alicePassword && id.Scope == "" || pass == w.pat && id.Scope == ScopeRead):
		default:
			t.Fatalf("Authorization %q: %s (scope %q) from password %q", h, id.User.Name, id.Scope, pass)
		}
	})
}

// FuzzScopes: every scope read is written back (ResourceActions.String)
// as itself; what is granted is what was asked and the rules allow, no
// more and no less; and the token made of the grant has exactly it.
func FuzzScopes(f *testing.F) {
	w := newWorld(f)
	for _, tc := range parseScopesCases {
		for i := range w.ids {
			f.Add(strings.Join(tc.in, " "), uint8(i))
		}
	}
	f.Add("repository:alice/priv:* repository:alice/pub:pull,pull,delete registry:catalog:pull,*", uint8(3))
	f.Add("registry:catalog:search repository:alice/priv:pull", uint8(0))
	f.Add("repository:bob/new:push repository:Alice/priv:pull repository:alice/priv/../pub:pull", uint8(1))
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, scope string, who uint8) {
		id := w.ids[int(who)%len(w.ids)]
		asked := parseScopes([]string{scope})
		if len(asked) > len(strings.Fields(scope)) {
			t.Fatalf("parseScopes(%q) read %d scopes from %d words", scope, len(asked), len(strings.Fields(scope)))
		}
		for _, ra := range asked {
			if again := parseScopes([]string{ra.String()}); !reflect.DeepEqual(again, []ResourceActions{ra}) {
				t.Fatalf("parseScopes(%q) read %+v, written back as %q which reads %+v", scope, ra, ra.String(), again)
			}
		}
		granted, err := w.s.grant(ctx, id, asked)
		if err != nil {
			t.Fatalf("grant(%q) to %q: %v", scope, id.User.Name, err)
		}
		askedFor := func(typ, name, action string) bool {
			for _, ra := range asked {
				if ra.Type == typ && ra.Name == name && (slices.Contains(ra.Actions, action) || slices.Contains(ra.Actions, "*")) {
					return true
				}
			}
			return false
		}
		has := func(typ, name, action string) bool {
			for _, g := range granted {
				if g.Type == typ && g.Name == name && slices.Contains(g.Actions, action) {
					return true
				}
			}
			return false
		}
		for i, g := range granted {
			if len(g.Actions) == 0 || slices.ContainsFunc(granted[:i], func(o ResourceActions) bool { return o.Type == g.Type && o.Name == g.Name }) {
				t.Fatalf("grant(%q) to %q: entry %+v empty or repeated", scope, id.User.Name, g)
			}
			for j, a := range g.Actions {
				if slices.Contains(g.Actions[:j], a) {
					t.Fatalf("grant(%q) to %q: %+v repeats %q", scope, id.User.Name, g, a)
				}
			}
		}
		tok := w.issue(t, id, granted)
		c, err := w.s.verify(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		for _, ra := range append(asked, granted...) {
			if ra.Type == "registry" && ra.Name == "catalog" {
				all, search := askedFor("registry", "catalog", "*"), askedFor("registry", "catalog", "search")
				exact := slices.ContainsFunc(asked, func(a ResourceActions) bool {
					return a.Type == "registry" && a.Name == "catalog" && slices.Contains(a.Actions, "search")
				})
				if has("registry", "catalog", "*") != all || has("registry", "catalog", "search") != exact ||
					c.has(access.Need{Action: access.Catalog}) != all || c.has(access.Need{Action: access.Search}) != search {
					t.Fatalf("grant(%q) to %q: catalog granted %+v, asked * %v, search %v", scope, id.User.Name, granted, all, search)
				}
				continue
			}
			if ra.Type != "repository" {
				if slices.ContainsFunc(granted, func(g ResourceActions) bool { return g.Type == ra.Type && g.Name == ra.Name }) {
					t.Fatalf("grant(%q) to %q: granted %+v, a resource the hub does not have", scope, id.User.Name, ra)
				}
				continue
			}
			for _, a := range []access.Action{access.Pull, access.Push, access.Delete} {
				may, err := w.s.May(ctx, id, ra.Name, a)
				if err != nil {
					t.Fatal(err)
				}
				want := askedFor("repository", ra.Name, string(a)) && may && distapi.CheckName(ra.Name) == nil
				if has("repository", ra.Name, string(a)) != want || c.has(access.Need{Repository: ra.Name, Action: a}) != want {
					t.Fatalf("grant(%q) to %q: %s on %q granted %v, want %v (asked and allowed)", scope, id.User.Name, a, ra.Name, has("repository", ra.Name, string(a)), want)
				}
			}
		}
	})
}
