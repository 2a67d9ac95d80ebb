package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// loadOrCreateKey reads the signing key from path, or makes one and writes
// it there (0600, renamed into place). An empty path gives a key for this
// process only.
func loadOrCreateKey(path string) (*ecdsa.PrivateKey, string, error) {
	if path != "" {
		b, err := os.ReadFile(path)
		if err == nil {
			key, err := parseKey(b)
			if err != nil {
				return nil, "", fmt.Errorf("token signing key %s: %w", path, err)
			}
			return key, keyID(&key.PublicKey), nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, "", fmt.Errorf("token signing key: %w", err)
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, "", err
	}
	if path != "" {
		err := writeKey(path, key)
		if errors.Is(err, os.ErrExist) { // another process made it first: use theirs
			return loadOrCreateKey(path)
		}
		if err != nil {
			return nil, "", fmt.Errorf("token signing key %s: %w", path, err)
		}
	}
	return key, keyID(&key.PublicKey), nil
}

func parseKey(b []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok || key.Curve != elliptic.P256() {
		return nil, errors.New("not a P-256 ECDSA key")
	}
	return key, nil
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".key-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := pem.Encode(tmp, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	// Link, not rename: if another process made the key meanwhile, keep theirs.
	return os.Link(tmp.Name(), path)
}

// keyID is the RFC 7638 JWK thumbprint of a P-256 public key.
func keyID(pub *ecdsa.PublicKey) string {
	b64 := base64.RawURLEncoding.EncodeToString
	raw, _ := pub.Bytes() // 0x04 || X || Y
	x, y := raw[1:33], raw[33:65]
	jwk := `{"crv":"P-256","kty":"EC","x":"` + b64(x) + `","y":"` + b64(y) + `"}`
	sum := sha256.Sum256([]byte(jwk))
	return b64(sum[:])
}

// KeyID is the id of the key tokens are signed with (their kid header).
func (s *Service) KeyID() string { return s.kid }

// Secret derives a key for purpose (such as "csrf") from the signing key,
// so the hub keeps one secret file.
func (s *Service) Secret(purpose string) []byte {
	b, _ := s.key.Bytes()
	sum := sha256.Sum256(append([]byte("strata hub "+purpose+"\x00"), b...))
	return sum[:]
}
