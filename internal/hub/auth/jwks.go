package auth

import (
	"encoding/json"
	"net/http"

	"github.com/strata-dev/strata/internal/hub/errcode"
)

// JWKSPath serves the public keys bearer tokens are signed with, as a JWK
// Set (RFC 7517): the key that signs, the next one (published before it
// signs) and those that still verify, for whoever checks the hub's tokens.
const JWKSPath = "/auth/jwks.json"

// jwk is one public key of the set.
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
}

// ServeJWKS answers JWKSPath.
func (s *Service) ServeJWKS(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	keys, err := s.keys.published(r.Context())
	if err != nil {
		errcode.Write(w, r, s.opts.Log, err)
		return
	}
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: []jwk{}}
	for _, k := range keys {
		x, y := pubXY(&k.private.PublicKey)
		set.Keys = append(set.Keys, jwk{Kty: "EC", Crv: "P-256", X: x, Y: y, Kid: k.ID, Use: "sig", Alg: "ES256"})
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "max-age=60")
	json.NewEncoder(w).Encode(set)
}
