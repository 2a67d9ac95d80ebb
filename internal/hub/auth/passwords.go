package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/alexedwards/argon2id"

	"github.com/strata-dev/strata/internal/errdefs"
)

// HashParams are argon2id's costs.
type HashParams = argon2id.Params

// defaultHashParams follow OWASP's argon2id advice (46 MiB, one pass, one lane).
var defaultHashParams = argon2id.Params{Memory: 46 * 1024, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// hasher hashes and checks passwords. At most two hashes run at once, so
// a flood of sign-ins costs bounded memory. A password that checked out is
// remembered for a few minutes (keyed by a hash of the stored hash and the
// password, so a changed password is a new key): docker and the
// conformance suite send the password with every token request.
type hasher struct {
	params *argon2id.Params
	slots  chan struct{}

	mu       sync.Mutex
	verified map[[32]byte]time.Time
	// dummy is checked against when a user does not exist, so that a
	// missing user takes as long to refuse as a wrong password.
	dummy func() string
}

const verifiedFor = 5 * time.Minute

func newHasher(p *HashParams) *hasher {
	if p == nil {
		d := defaultHashParams
		p = &d
	}
	h := &hasher{params: p, slots: make(chan struct{}, 2), verified: map[[32]byte]time.Time{}}
	h.dummy = sync.OnceValue(func() string {
		d, _ := argon2id.CreateHash("strata: no such user", p)
		return d
	})
	return h
}

func (h *hasher) hash(password string) (string, error) {
	h.slots <- struct{}{}
	defer func() { <-h.slots }()
	return argon2id.CreateHash(password, h.params)
}

// check reports whether password matches the stored hash.
func (h *hasher) check(password, stored string, now time.Time) bool {
	key := sha256.Sum256([]byte(stored + "\x00" + password))
	h.mu.Lock()
	until, ok := h.verified[key]
	h.mu.Unlock()
	if ok && now.Before(until) {
		return true
	}
	h.slots <- struct{}{}
	match, err := argon2id.ComparePasswordAndHash(password, stored)
	<-h.slots
	if err != nil || !match {
		return false
	}
	h.mu.Lock()
	if len(h.verified) > 10000 {
		clear(h.verified)
	}
	h.verified[key] = now.Add(verifiedFor)
	h.mu.Unlock()
	return true
}

// namePattern is a user name: lowercase letters and digits, single dashes
// between them, so that it is also a repository namespace.
var namePattern = regexp.MustCompile(`^[a-z0-9]+(?:-[a-z0-9]+)*$`)

// reservedNames cannot be users: they would read as something else.
var reservedNames = map[string]bool{"admin": true, "library": true, "root": true, "strata": true, "v2": true, "auth": true,
	"static": true, "new": true, "explore": true, "settings": true, "signin": true, "signup": true, "signout": true,
	"healthz": true, "readyz": true, "metrics": true}

// CheckName says why name cannot be a user name, or nil.
func CheckName(name string) error {
	switch {
	case len(name) < 2 || len(name) > 39:
		return fmt.Errorf("user name %q: use 2 to 39 characters: %w", name, errdefs.ErrInvalidArgument)
	case !namePattern.MatchString(name):
		return fmt.Errorf("user name %q: use lowercase letters, digits and single dashes between them: %w", name, errdefs.ErrInvalidArgument)
	case reservedNames[name]:
		return fmt.Errorf("user name %q is reserved: %w", name, errdefs.ErrInvalidArgument)
	}
	return nil
}

// CheckPassword says why password is too weak or too long, or nil.
func CheckPassword(password string) error {
	switch {
	case len(password) < 8:
		return fmt.Errorf("the password is too short: use at least 8 characters: %w", errdefs.ErrInvalidArgument)
	case len(password) > 1024:
		return fmt.Errorf("the password is longer than 1024 bytes: %w", errdefs.ErrInvalidArgument)
	}
	return nil
}

// secretHash is how credentials are stored: random secrets need no salt or slow hash.
func secretHash(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}
