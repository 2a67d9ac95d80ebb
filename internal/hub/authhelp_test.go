package hub_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/strata-dev/strata/internal/testutil"
)

// reply is a response read whole.
type reply struct {
	Status int
	Header http.Header
	Body   string
}

// call sends one request to the hub, with a bearer token when tok is set.
func call(t *testing.T, method, url, tok string, body []byte, header ...string) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, string(b)}
}

// tokenReply is the token endpoint's JSON.
type tokenReply struct {
	Token        string `json:"token"`
	AccessToken  string `json:"access_token"`
	ExpiresIn    int    `json:"expires_in"`
	IssuedAt     string `json:"issued_at"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
}

// getToken asks the token endpoint (GET) for scopes, as user with secret
// (a password or an access token), or anonymously when user is "".
func getToken(t *testing.T, h *testutil.Hub, user, secret string, scopes ...string) (tokenReply, reply) {
	t.Helper()
	q := url.Values{"service": {"strata-hub"}, "scope": scopes}
	req, _ := http.NewRequest(http.MethodGet, h.URL()+"/auth/token?"+q.Encode(), nil)
	if user != "" {
		req.SetBasicAuth(user, secret)
	}
	return tokenCall(t, req)
}

// postToken is the OAuth2 form of the token endpoint.
func postToken(t *testing.T, h *testutil.Hub, form url.Values) (tokenReply, reply) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.URL()+"/auth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return tokenCall(t, req)
}

func tokenCall(t *testing.T, req *http.Request) (tokenReply, reply) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var tr tokenReply
	if resp.StatusCode == 200 {
		if err := json.Unmarshal(b, &tr); err != nil {
			t.Fatalf("token reply: %v: %s", err, b)
		}
	}
	return tr, reply{resp.StatusCode, resp.Header, string(b)}
}

// claimsOf decodes a JWT's header and claims without checking them.
func claimsOf(t *testing.T, tok string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	for i, into := range []*map[string]any{&header, &claims} {
		b, err := decodeSegment(parts[i])
		if err == nil {
			err = json.Unmarshal(b, into)
		}
		if err != nil {
			t.Fatalf("JWT part %d: %v", i, err)
		}
	}
	return header, claims
}

// seeded is an image pushed to the hub: its manifest and blobs.
type seeded struct {
	Manifest      []byte
	MediaType     string
	Digest        v1.Hash
	Config, Layer v1.Hash
}

func seed(t *testing.T, img v1.Image) seeded {
	t.Helper()
	raw, _ := img.RawManifest()
	mt, _ := img.MediaType()
	d, _ := img.Digest()
	cfg, _ := img.ConfigName()
	layers, _ := img.Layers()
	ld, _ := layers[0].Digest()
	return seeded{raw, string(mt), d, cfg, ld}
}

func decodeSegment(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(s)
}
