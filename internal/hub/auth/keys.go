package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/strata-dev/strata/internal/errdefs"
)

// parseKey reads a PEM PKCS #8 P-256 key: the key file hubs kept before
// their keys moved into meta.
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

// keyID is the RFC 7638 JWK thumbprint of a P-256 public key.
func keyID(pub *ecdsa.PublicKey) string {
	x, y := pubXY(pub)
	jwk := `{"crv":"P-256","kty":"EC","x":"` + x + `","y":"` + y + `"}`
	sum := sha256.Sum256([]byte(jwk))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// pubXY are a P-256 public key's coordinates, base64url as JWKs write them.
func pubXY(pub *ecdsa.PublicKey) (x, y string) {
	raw, _ := pub.Bytes() // 0x04 || X || Y
	b64 := base64.RawURLEncoding.EncodeToString
	return b64(raw[1:33]), b64(raw[33:65])
}

// KeyID is the id of the key tokens are signed with now (their kid header).
func (s *Service) KeyID(ctx context.Context) (string, error) {
	k, err := s.keys.signer(ctx)
	return k.ID, err
}

// Secret derives a key for purpose (such as "csrf") from the hub's secret,
// which every node shares (meta's secret "hub", made on first start).
func (s *Service) Secret(purpose string) []byte {
	sum := sha256.Sum256(append([]byte("strata hub "+purpose+"\x00"), s.secret...))
	return sum[:]
}

// hubSecret returns the hub's secret, making it when the hub has none.
func hubSecret(ctx context.Context, s *Service) ([]byte, error) {
	fresh := make([]byte, 32)
	rand.Read(fresh)
	b, err := s.meta.Secret(ctx, "hub", fresh)
	if err != nil {
		return nil, fmt.Errorf("the hub's secret: %w", err)
	}
	return b, nil
}

// KeyState is where a signing key is in its life.
type KeyState string

const (
	KeyNext     KeyState = "next"     // published, signs from its SignFrom
	KeySigning  KeyState = "signing"  // signs the tokens issued now
	KeyVerifies KeyState = "verifies" // a newer key signs; it still verifies
)

// KeyInfo describes a signing key.
type KeyInfo struct {
	ID        string
	State     KeyState
	CreatedAt time.Time
	SignFrom  time.Time
	// Retires is when a key that a newer one replaced is deleted (zero for others).
	Retires time.Time
}

// SigningKeys lists the hub's signing keys, oldest first.
func (s *Service) SigningKeys(ctx context.Context) ([]KeyInfo, error) {
	if err := s.keys.load(ctx); err != nil {
		return nil, err
	}
	keys, err := s.keys.published(ctx)
	if err != nil {
		return nil, err
	}
	now := s.opts.Now()
	signing := -1
	for i, k := range keys {
		if !k.SignFrom.After(now) {
			signing = i
		}
	}
	out := make([]KeyInfo, len(keys))
	for i, k := range keys {
		out[i] = KeyInfo{ID: k.ID, CreatedAt: k.CreatedAt, SignFrom: k.SignFrom}
		switch {
		case i == signing:
			out[i].State = KeySigning
		case i > signing:
			out[i].State = KeyNext
		default:
			out[i].State, out[i].Retires = KeyVerifies, keys[i+1].SignFrom.Add(keyRetain)
		}
	}
	return out, nil
}

// RotateKey makes a new signing key, published now and signing after
// publish: tokens signed with the keys before it stay good until they
// expire. Nodes that keep the keys' list (JWKS) learn of it meanwhile.
func (s *Service) RotateKey(ctx context.Context, publish time.Duration) (KeyInfo, error) {
	sk, err := s.keys.add(ctx, s.opts.Now().Add(max(publish, 0)))
	if err != nil {
		return KeyInfo{}, err
	}
	s.opts.Log.Info("token signing key added", "kid", sk.ID, "signs_from", sk.SignFrom)
	return KeyInfo{ID: sk.ID, State: KeyNext, CreatedAt: sk.CreatedAt, SignFrom: sk.SignFrom}, nil
}

// RevokeKey deletes a signing key at once, for a key that leaked: every
// token it signed is refused (by each node within keyRefresh). Revoking the
// key that signs makes a new one first, which signs at once.
func (s *Service) RevokeKey(ctx context.Context, id string) error {
	keys, err := s.SigningKeys(ctx)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k.ID != id {
			continue
		}
		if k.State == KeySigning {
			if _, err := s.RotateKey(ctx, 0); err != nil {
				return err
			}
		}
		if err := s.meta.DeleteSigningKey(ctx, id); err != nil {
			return err
		}
		s.opts.Log.Warn("token signing key revoked", "kid", id)
		return s.keys.load(ctx)
	}
	return fmt.Errorf("no signing key %q: %w", id, errdefs.ErrNotFound)
}
