package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/strata-dev/strata/internal/hub/meta"
	"github.com/strata-dev/strata/internal/hub/meta/sqlite"
)

// clock is a time tests move.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// nodes are services on one metadata store, as hub nodes on one database.
func nodes(t testing.TB, n int, opts Options) ([]*Service, meta.Store, *clock) {
	t.Helper()
	m, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	c := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	opts.Now = c.Now
	var out []*Service
	for range n {
		s, err := New(context.Background(), m, opts)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out, m, c
}

func token(t *testing.T, s *Service) string {
	t.Helper()
	tok, _, err := s.issue(context.Background(), Identity{User: meta.User{Name: "alice"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func accepts(s *Service, tok string) bool {
	_, err := s.verify(context.Background(), tok)
	return err == nil
}

func signingKid(t *testing.T, s *Service) string {
	t.Helper()
	kid, err := s.KeyID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return kid
}

// Nodes on one database sign with one key, accept each other's tokens and
// share the hub's secret; the hub gets one key, and no key file is written.
func TestKeysShared(t *testing.T) {
	svcs, m, _ := nodes(t, 3, Options{KeyFile: filepath.Join(t.TempDir(), "token-signing.pem")})
	if keys, _ := m.SigningKeys(context.Background()); len(keys) != 1 {
		t.Fatalf("3 nodes made %d keys", len(keys))
	}
	if _, err := os.Stat(svcs[0].opts.KeyFile); !os.IsNotExist(err) {
		t.Fatalf("a key file was written: %v", err)
	}
	for i, s := range svcs {
		if signingKid(t, s) != signingKid(t, svcs[0]) || string(s.Secret("csrf")) != string(svcs[0].Secret("csrf")) {
			t.Fatalf("node %d signs with another key or has another secret", i)
		}
		if tok := token(t, s); !accepts(svcs[(i+1)%3], tok) {
			t.Fatalf("node %d's token is refused by node %d", i, (i+1)%3)
		}
	}
	if string(svcs[0].Secret("csrf")) == string(svcs[0].Secret("other")) {
		t.Fatal("two purposes get one secret")
	}
}

// A hub that kept its key in a file before keeps signing with it, so the
// tokens it issued stay good; a broken file is an error.
func TestKeyFileImported(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	path := filepath.Join(t.TempDir(), "token-signing.pem")
	os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	svcs, _, _ := nodes(t, 2, Options{KeyFile: path})
	if got := signingKid(t, svcs[1]); got != keyID(&key.PublicKey) {
		t.Fatalf("signs with %s, not the file's key", got)
	}
	m, _ := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
	defer m.Close()
	os.WriteFile(path, []byte("not a key"), 0o600)
	if _, err := New(context.Background(), m, Options{KeyFile: path}); err == nil {
		t.Fatal("a broken key file was accepted")
	}
}

// A rotation while clients hold tokens: the new key is published (JWKS)
// before it signs, tokens signed with the old one stay good, every node
// takes the new one up, and the old one is deleted a day after.
func TestKeyRotation(t *testing.T) {
	svcs, _, c := nodes(t, 2, Options{TokenTTL: time.Hour})
	a, b := svcs[0], svcs[1]
	old := signingKid(t, a)
	held := token(t, a)
	next, err := a.RotateKey(context.Background(), 10*time.Minute)
	if err != nil || next.State != KeyNext {
		t.Fatalf("rotate: %+v, %v", next, err)
	}
	if signingKid(t, a) != old || !slices.Equal(jwksKids(t, a), []string{old, next.ID}) {
		t.Fatalf("before it signs: signs with %s, JWKS %v", signingKid(t, a), jwksKids(t, a))
	}
	c.Add(10 * time.Minute)
	for _, s := range svcs {
		if got := signingKid(t, s); got != next.ID {
			t.Fatalf("after the publish period a node signs with %s", got)
		}
	}
	if !accepts(b, held) || !accepts(a, token(t, b)) {
		t.Fatal("a token from before the rotation, or after it, is refused")
	}
	infos, _ := a.SigningKeys(context.Background())
	if len(infos) != 2 || infos[0].State != KeyVerifies || infos[1].State != KeySigning || !infos[0].Retires.Equal(c.Now().Add(keyRetain)) {
		t.Fatalf("keys: %+v", infos)
	}
	c.Add(keyRetain + time.Second)
	if !slices.Equal(jwksKids(t, b), []string{next.ID}) {
		t.Fatalf("a day later the JWKS is %v", jwksKids(t, b))
	}
}

// Keys rotate by themselves once the newest is KeyRotation old, one key
// for all the nodes that find it due.
func TestKeyRotatesItself(t *testing.T) {
	svcs, m, c := nodes(t, 3, Options{KeyRotation: 24 * time.Hour, KeyPublish: time.Minute})
	first := signingKid(t, svcs[0])
	c.Add(24 * time.Hour)
	for _, s := range svcs {
		if signingKid(t, s) != first {
			t.Fatal("the next key signs before its publish period")
		}
	}
	if keys, _ := m.SigningKeys(context.Background()); len(keys) != 2 {
		t.Fatalf("%d keys after the rotation was due on 3 nodes", len(keys))
	}
	c.Add(time.Minute)
	if signingKid(t, svcs[2]) == first {
		t.Fatal("the next key does not sign after its publish period")
	}
}

// A key made on one node is honoured by another at once, before its next
// read of the keys; a revoked key's tokens are refused by every node.
func TestKeyRevoked(t *testing.T) {
	svcs, _, c := nodes(t, 2, Options{})
	a, b := svcs[0], svcs[1]
	old := signingKid(t, b) // b has read the keys
	held := token(t, a)
	if _, err := a.RotateKey(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	if tok := token(t, a); !accepts(b, tok) {
		t.Fatal("a token signed with a key made a moment ago on another node is refused")
	}
	if err := a.RevokeKey(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	if accepts(a, held) {
		t.Fatal("the node that revoked the key accepts its tokens")
	}
	c.Add(keyRefresh)
	if accepts(b, held) {
		t.Fatal("another node accepts a revoked key's tokens after its refresh")
	}
	if err := a.RevokeKey(context.Background(), "nonsense"); err == nil {
		t.Fatal("revoking a key that does not exist")
	}
	now := signingKid(t, a)
	if err := a.RevokeKey(context.Background(), now); err != nil || signingKid(t, a) == now {
		t.Fatalf("revoking the key that signs: %v; signs with %s", err, signingKid(t, a))
	}
}

func jwksKids(t *testing.T, s *Service) []string {
	t.Helper()
	w := httptest.NewRecorder()
	s.ServeJWKS(w, httptest.NewRequest("GET", JWKSPath, nil))
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &set); err != nil || w.Code != 200 {
		t.Fatalf("JWKS: %d %s", w.Code, w.Body)
	}
	var kids []string
	for _, k := range set.Keys {
		if k.Kty != "EC" || k.Crv != "P-256" || k.Alg != "ES256" || k.X == "" {
			t.Fatalf("JWK %+v", k)
		}
		kids = append(kids, k.Kid)
	}
	return kids
}
