package testutil

import (
	"context"
	"testing"

	"github.com/strata-dev/strata/internal/hub"
	"github.com/strata-dev/strata/internal/hub/auth"
)

// CheapHashes make argon2id fast for tests (never for a real hub).
var CheapHashes = &auth.HashParams{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// StartAccountsHub serves a hub with accounts, token auth and the web UI,
// until the test ends, with cheap password hashes unless cfg.Auth says
// otherwise. users maps names to passwords; the first is an administrator.
func StartAccountsHub(t testing.TB, cfg hub.Config, users ...[2]string) *Hub {
	t.Helper()
	cfg.Open = false
	if cfg.Auth.HashParams == nil {
		cfg.Auth.HashParams = CheapHashes
	}
	h := startHub(t, cfg)
	for i, u := range users {
		if err := h.Deps.Auth.CreateUser(context.Background(), u[0], u[1], i == 0); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// URL is the hub's base URL.
func (h *Hub) URL() string { return "http://" + h.Addr }
