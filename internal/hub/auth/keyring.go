package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/meta"
)

// The signing keys live in meta, so that every hub node signs with the
// same key and verifies every node's tokens. Their life:
//
//	added ──(published: in the JWKS, verifies)──► SignFrom: signs ──► a newer key signs: verifies only
//	      ──► keyRetain after that: deleted, its tokens (long expired) refused
//
// The key that signs is the newest whose SignFrom has come. A node reads
// the keys again every keyRefresh, and at once (at most every second) when
// a token names a key it does not know, so a key another node made is
// honoured straight away. Nodes that add keys at once (on first start, or
// both rotating) add distinct rows and end up signing with the same one.
const (
	keyRefresh = 30 * time.Second
	// keyRetain is how long a key verifies after a newer one took over:
	// far longer than any bearer token lives.
	keyRetain = 24 * time.Hour
	// rotationLease names the lease a node takes to rotate, so that the
	// nodes finding rotation due at once make one key, not one each.
	rotationLease = "signing-key-rotation"
)

// errUnknownKey is a token signed with a key no node has (or has any more).
var errUnknownKey = errors.New("unknown key id")

// ringKey is a stored key, parsed.
type ringKey struct {
	meta.SigningKey
	private *ecdsa.PrivateKey
}

// keyring is a node's view of the signing keys in meta.
type keyring struct {
	meta meta.Store
	opts *Options

	mu         sync.Mutex
	keys       []ringKey // by SignFrom, then ID, as meta lists them
	loaded     time.Time
	lastReload time.Time // a reload for an unknown key id
}

// load reads the keys from meta, deleting those retired for keyRetain.
func (k *keyring) load(ctx context.Context) error {
	stored, err := k.meta.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("token signing keys: %w", err)
	}
	now := k.opts.Now()
	keys := make([]ringKey, 0, len(stored))
	for i, sk := range stored {
		if i+1 < len(stored) && !stored[i+1].SignFrom.After(now.Add(-keyRetain)) {
			if err := k.meta.DeleteSigningKey(ctx, sk.ID); err != nil {
				return fmt.Errorf("retiring token signing key %s: %w", sk.ID, err)
			}
			k.opts.Log.Info("token signing key retired", "kid", sk.ID)
			continue
		}
		priv, err := x509.ParsePKCS8PrivateKey(sk.Private)
		key, ok := priv.(*ecdsa.PrivateKey)
		if err != nil || !ok || key.Curve != elliptic.P256() {
			return fmt.Errorf("token signing key %s is not a P-256 ECDSA key in PKCS #8 (%v): %w", sk.ID, err, errdefs.ErrInvalidArgument)
		}
		keys = append(keys, ringKey{SigningKey: sk, private: key})
	}
	k.mu.Lock()
	k.keys, k.loaded = keys, now
	k.mu.Unlock()
	return nil
}

// fresh reloads the keys when they are older than keyRefresh.
func (k *keyring) fresh(ctx context.Context) error {
	k.mu.Lock()
	stale := k.opts.Now().Sub(k.loaded) >= keyRefresh || k.loaded.IsZero()
	k.mu.Unlock()
	if !stale {
		return nil
	}
	return k.load(ctx)
}

// signer returns the key that signs now: the newest whose SignFrom has come.
func (k *keyring) signer(ctx context.Context) (ringKey, error) {
	if err := k.fresh(ctx); err != nil {
		return ringKey{}, err
	}
	if err := k.rotateIfDue(ctx); err != nil {
		k.opts.Log.Warn("token signing key rotation failed; the current key signs on", "err", err)
	}
	now := k.opts.Now()
	k.mu.Lock()
	defer k.mu.Unlock()
	for i := len(k.keys) - 1; i >= 0; i-- {
		if !k.keys[i].SignFrom.After(now) {
			return k.keys[i], nil
		}
	}
	return ringKey{}, fmt.Errorf("no token signing key signs yet: %w", errdefs.ErrUnavailable)
}

// verifier returns the public key called kid, reading the keys again
// (at most once a second) when it is not known: another node may have just
// made it. A retired key is not known.
func (k *keyring) verifier(ctx context.Context, kid string) (*ecdsa.PublicKey, error) {
	if err := k.fresh(ctx); err != nil {
		return nil, err
	}
	if pub := k.find(kid); pub != nil {
		return pub, nil
	}
	k.mu.Lock()
	now := k.opts.Now()
	reload := now.Sub(k.lastReload) >= time.Second
	if reload {
		k.lastReload = now
	}
	k.mu.Unlock()
	if reload {
		if err := k.load(ctx); err != nil {
			return nil, err
		}
		if pub := k.find(kid); pub != nil {
			return pub, nil
		}
	}
	return nil, fmt.Errorf("%w %q", errUnknownKey, kid)
}

func (k *keyring) find(kid string) *ecdsa.PublicKey {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, rk := range k.keys {
		if rk.ID == kid {
			return &rk.private.PublicKey
		}
	}
	return nil
}

// published returns the keys that verify (those in the JWKS).
func (k *keyring) published(ctx context.Context) ([]ringKey, error) {
	if err := k.fresh(ctx); err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.keys), nil
}

// add makes a new key that signs from signFrom, and reads the keys again.
func (k *keyring) add(ctx context.Context, signFrom time.Time) (meta.SigningKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return meta.SigningKey{}, err
	}
	return k.store(ctx, key, k.opts.Now(), signFrom)
}

// store adds key to meta and reads the keys again.
func (k *keyring) store(ctx context.Context, key *ecdsa.PrivateKey, created, signFrom time.Time) (meta.SigningKey, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return meta.SigningKey{}, err
	}
	sk := meta.SigningKey{ID: keyID(&key.PublicKey), Private: der, CreatedAt: created, SignFrom: signFrom}
	if err := k.meta.AddSigningKey(ctx, sk); err != nil && !errdefs.IsAlreadyExists(err) {
		return meta.SigningKey{}, fmt.Errorf("token signing key: %w", err)
	}
	return sk, k.load(ctx)
}

// ensure gives a hub its first key when it has none: the key in keyFile
// (what a hub kept before its keys moved into meta: its tokens stay
// good), else a new one that signs at once.
func (k *keyring) ensure(ctx context.Context, keyFile string) error {
	if err := k.load(ctx); err != nil {
		return err
	}
	k.mu.Lock()
	have := len(k.keys) > 0
	k.mu.Unlock()
	if have {
		return nil
	}
	if keyFile != "" {
		b, err := os.ReadFile(keyFile)
		if err == nil {
			key, err := parseKey(b)
			if err != nil {
				return fmt.Errorf("token signing key %s: %w", keyFile, err)
			}
			created := k.opts.Now()
			if fi, err := os.Stat(keyFile); err == nil && fi.ModTime().Before(created) {
				created = fi.ModTime()
			}
			_, err = k.store(ctx, key, created, time.Unix(0, 0)) // it has signed all along
			return err
		}
		if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("token signing key: %w", err)
		}
	}
	_, err := k.add(ctx, k.opts.Now())
	return err
}

// rotateIfDue adds the next key, to sign KeyPublish from now, once the
// newest key is KeyRotation old. One node does, under a lease.
func (k *keyring) rotateIfDue(ctx context.Context) error {
	if k.opts.KeyRotation < 0 {
		return nil
	}
	now := k.opts.Now()
	k.mu.Lock()
	due := len(k.keys) > 0 && !k.keys[len(k.keys)-1].CreatedAt.After(now.Add(-k.opts.KeyRotation))
	k.mu.Unlock()
	if !due {
		return nil
	}
	holder := rand.Text()
	err := k.meta.AcquireLease(ctx, rotationLease, now, meta.Lease{Holder: holder, Until: now.Add(time.Minute)})
	if errdefs.IsConflict(err) {
		return nil // another node is rotating
	}
	if err != nil {
		return err
	}
	defer k.meta.ReleaseLease(context.WithoutCancel(ctx), rotationLease, holder)
	if err := k.load(ctx); err != nil { // it may have rotated just before
		return err
	}
	k.mu.Lock()
	due = !k.keys[len(k.keys)-1].CreatedAt.After(now.Add(-k.opts.KeyRotation))
	k.mu.Unlock()
	if !due {
		return nil
	}
	sk, err := k.add(ctx, now.Add(k.opts.KeyPublish))
	if err == nil {
		k.opts.Log.Info("token signing key rotated", "kid", sk.ID, "signs_from", sk.SignFrom)
	}
	return err
}
