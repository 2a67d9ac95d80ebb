package meta

import (
	"context"
	"time"
)

// SigningKey is a key the hub signs bearer tokens with (package auth),
// kept here so that every hub node signs and verifies with the same keys.
// Rows are never changed, only added and deleted, so nodes that add keys
// at once cannot undo each other.
type SigningKey struct {
	ID        string // the key id tokens name (kid)
	Private   []byte // the private key, PKCS #8 DER
	CreatedAt time.Time
	// SignFrom is when it starts signing: a new key is published a while
	// before, so that whoever verifies tokens knows it before it meets one.
	SignFrom time.Time
}

// Keys are the hub's secrets: its token signing keys and named secrets
// (what web forms are signed with).
type Keys interface {
	// AddSigningKey stores a key; ErrAlreadyExists for an id already stored.
	AddSigningKey(ctx context.Context, k SigningKey) error
	// SigningKeys lists every key by SignFrom, then ID.
	SigningKeys(ctx context.Context) ([]SigningKey, error)
	// DeleteSigningKey forgets a key; nothing when there is no such key.
	DeleteSigningKey(ctx context.Context, id string) error
	// Secret returns the secret called name, storing value as it first when
	// there is none: whoever asks first decides, and all get the same.
	Secret(ctx context.Context, name string, value []byte) ([]byte, error)
}
