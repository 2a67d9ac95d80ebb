package testutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TokenServer is a Docker token service (the token spec's realm) for a
// reference registry started with StartTokenDistribution: it checks Basic
// credentials against its users, grants every action asked for to a known
// user (pull only to anonymous), and signs tokens the registry trusts.
type TokenServer struct {
	URL       string
	ExpiresIn int // seconds, told to clients; 0 leaves expires_in out

	key   *ecdsa.PrivateKey
	cert  []byte // DER
	users map[string]string

	mu       sync.Mutex
	requests []TokenRequest
}

// TokenRequest is one request the token server answered.
type TokenRequest struct {
	User   string // "" for anonymous
	Scopes []string
}

// Requests returns what the token server was asked, in order.
func (s *TokenServer) Requests() []TokenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]TokenRequest(nil), s.requests...)
}

const tokenService, tokenIssuer = "strata-test-registry", "strata-test-issuer"

// StartTokenDistribution starts the reference registry with token auth, and
// the token server it trusts, for users (name to password).
func StartTokenDistribution(t testing.TB, users map[string]string) (*Distribution, *TokenServer) {
	t.Helper()
	bin := Tool(t, "docker-registry")
	ts := newTokenServer(t, users)
	srv := httptest.NewServer(http.HandlerFunc(ts.serve))
	t.Cleanup(srv.Close)
	ts.URL = srv.URL + "/token"
	dir := t.TempDir()
	bundle := filepath.Join(dir, "token.crt")
	os.WriteFile(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.cert}), 0o644)
	r := &Distribution{Addr: FreeAddr(t), Dir: dir}
	auth := fmt.Sprintf("auth:\n  token:\n    realm: %s\n    service: %s\n    issuer: %s\n    rootcertbundle: %s\n",
		ts.URL, tokenService, tokenIssuer, bundle)
	startRegistry(t, bin, r, auth)
	return r, ts
}

func newTokenServer(t testing.TB, users map[string]string) *TokenServer {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: tokenIssuer},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &TokenServer{key: key, cert: der, users: users, ExpiresIn: 300}
}

// serve answers GET /token?service=&scope=...&scope=... as Docker's token spec says.
func (s *TokenServer) serve(w http.ResponseWriter, r *http.Request) {
	user, pass, hasAuth := r.BasicAuth()
	if hasAuth && (s.users[user] == "" || s.users[user] != pass) {
		http.Error(w, `{"details":"incorrect username or password"}`, http.StatusUnauthorized)
		return
	}
	if r.URL.Query().Get("service") != tokenService {
		http.Error(w, "unknown service", http.StatusBadRequest)
		return
	}
	scopes := r.URL.Query()["scope"]
	s.mu.Lock()
	s.requests = append(s.requests, TokenRequest{User: user, Scopes: scopes})
	expires := s.ExpiresIn
	s.mu.Unlock()
	var access []map[string]any
	for _, scope := range scopes {
		parts := strings.Split(scope, ":")
		if len(parts) != 3 {
			continue
		}
		actions := strings.Split(parts[2], ",")
		if user == "" {
			actions = []string{"pull"}
		}
		access = append(access, map[string]any{"type": parts[0], "name": parts[1], "actions": actions})
	}
	life := time.Duration(max(expires, 1)) * time.Second
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"iss": tokenIssuer, "sub": user, "aud": tokenService, "exp": now.Add(life).Unix(),
		"nbf": now.Add(-time.Second).Unix(), "iat": now.Unix(), "jti": fmt.Sprint(now.UnixNano()), "access": access})
	tok.Header["x5c"] = []string{base64.StdEncoding.EncodeToString(s.cert)}
	signed, err := tok.SignedString(s.key)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	resp := map[string]any{"token": signed, "issued_at": now.UTC().Format(time.RFC3339)}
	if expires > 0 {
		resp["expires_in"] = expires
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(resp)
}

// Recorder is a reverse proxy in front of a registry that records every
// request, so tests can count what crossed the network, and that can cut a
// blob download short to test resuming.
type Recorder struct {
	Addr string // host:port of the proxy, on 127.0.0.1

	// ChunkMinLength, when set, is advertised as OCI-Chunk-Min-Length on
	// upload sessions (distribution 2.8 has no minimum of its own).
	ChunkMinLength int64

	mu       sync.Mutex
	requests []Recorded
	cuts     map[string]int64 // blob digest: cut the next GET after this many bytes
	corrupt  map[string]bool  // blob digest: flip a byte of the next GET
}

// Recorded is one request that went through a Recorder.
type Recorded struct {
	Method, Path, Range string
	Size                int64 // the request's Content-Length
	Status              int
}

// StartRecorder proxies to the registry at target (host:port, plain http).
func StartRecorder(t testing.TB, target string) *Recorder {
	t.Helper()
	rec := &Recorder{cuts: map[string]int64{}, corrupt: map[string]bool{}}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(&url.URL{Scheme: "http", Host: target})
			pr.Out.Host = pr.In.Host // the registry writes Locations for the proxy
		},
		ModifyResponse: rec.modify,
		ErrorLog:       log.New(io.Discard, "", 0), // the cuts are on purpose
	}
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	rec.Addr = strings.TrimPrefix(srv.URL, "http://")
	return rec
}

func (rec *Recorder) modify(resp *http.Response) error {
	req := resp.Request
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.requests = append(rec.requests, Recorded{Method: req.Method, Path: req.URL.Path,
		Range: req.Header.Get("Range"), Size: req.ContentLength, Status: resp.StatusCode})
	if rec.ChunkMinLength > 0 && req.Method == http.MethodPost && resp.StatusCode == http.StatusAccepted {
		resp.Header.Set("OCI-Chunk-Min-Length", fmt.Sprint(rec.ChunkMinLength))
	}
	if req.Method != http.MethodGet || !strings.Contains(req.URL.Path, "/blobs/sha") {
		return nil
	}
	dgst := req.URL.Path[strings.LastIndex(req.URL.Path, "/")+1:]
	if n, ok := rec.cuts[dgst]; ok {
		delete(rec.cuts, dgst)
		resp.Body = &cutBody{ReadCloser: resp.Body, left: n}
	}
	if rec.corrupt[dgst] {
		delete(rec.corrupt, dgst)
		resp.Body = &flipBody{ReadCloser: resp.Body}
	}
	return nil
}

// flipBody changes the first byte it passes on, as a corrupting middlebox would.
type flipBody struct {
	io.ReadCloser
	done bool
}

func (f *flipBody) Read(p []byte) (int, error) {
	n, err := f.ReadCloser.Read(p)
	if n > 0 && !f.done {
		p[0] ^= 0xff
		f.done = true
	}
	return n, err
}

// Corrupt makes the next download of blob dgst arrive with one byte changed.
func (rec *Recorder) Corrupt(dgst string) {
	rec.mu.Lock()
	rec.corrupt[dgst] = true
	rec.mu.Unlock()
}

// cutBody ends a response with an error after some bytes: the proxy then
// drops the connection, as a network failure would.
type cutBody struct {
	io.ReadCloser
	left int64
}

func (c *cutBody) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, fmt.Errorf("testutil.Recorder: connection cut on purpose")
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.ReadCloser.Read(p)
	c.left -= int64(n)
	return n, err
}

// CutAfter makes the next download of blob dgst fail after n bytes.
func (rec *Recorder) CutAfter(dgst string, n int64) {
	rec.mu.Lock()
	rec.cuts[dgst] = n
	rec.mu.Unlock()
}

// Requests returns the requests so far.
func (rec *Recorder) Requests() []Recorded {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]Recorded(nil), rec.requests...)
}

// Reset forgets the requests so far.
func (rec *Recorder) Reset() {
	rec.mu.Lock()
	rec.requests = nil
	rec.mu.Unlock()
}

// BlobTransfers counts blob downloads (GET of a blob) and upload requests
// (POST, PATCH or PUT under blobs/uploads) among the requests so far. A POST
// answered 201 is a mount that worked, which moved nothing: it is not counted.
func (rec *Recorder) BlobTransfers() (gets, uploads int) {
	for _, r := range rec.Requests() {
		switch {
		case r.Method == http.MethodGet && strings.Contains(r.Path, "/blobs/sha"):
			gets++
		case r.Method != http.MethodGet && r.Method != http.MethodHead && strings.Contains(r.Path, "/blobs/uploads/"):
			if r.Method == http.MethodPost && r.Status == http.StatusCreated {
				continue // a mount that worked: nothing was sent
			}
			uploads++
		}
	}
	return gets, uploads
}

// InstallCredentialHelper puts a real credential helper,
// docker-credential-<name>, first in PATH for the rest of the test, and
// returns the directory where it keeps what it stores: one file per server,
// holding the JSON record of the helper protocol.
func InstallCredentialHelper(t *testing.T, name string) string {
	t.Helper()
	bin, store := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "docker-credential-"+name), []byte(credentialHelperScript), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("HELPER_STORE", store)
	return store
}

// credentialHelperScript speaks Docker's credential helper protocol in shell.
const credentialHelperScript = `#!/bin/sh
set -e
key() { printf %s "$1" | sha256sum | cut -c1-16; }
case "$1" in
store)
	rec=$(cat)
	server=$(printf %s "$rec" | sed -n 's/.*"ServerURL":"\([^"]*\)".*/\1/p')
	printf %s "$rec" >"$HELPER_STORE/$(key "$server")" ;;
get|erase)
	f="$HELPER_STORE/$(key "$(cat)")"
	if [ ! -f "$f" ]; then echo "credentials not found in native keychain"; exit 1; fi
	if [ "$1" = get ]; then cat "$f"; else rm "$f"; fi ;;
list) echo '{}' ;;
*) echo "unknown action $1" >&2; exit 2 ;;
esac
`
