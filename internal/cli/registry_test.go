package cli

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-dev/strata/internal/errdefs"
)

func TestRegistryConfig(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"STRATA_CONFIG": dir}
	getenv := func(k string) string { return env[k] }
	a := &app{getenv: getenv}
	c, err := a.registryClient()
	if err != nil || c.IsInsecure("registry.lan:5000") {
		t.Fatalf("without a config: %v, insecure %v", err, c.IsInsecure("registry.lan:5000"))
	}
	os.WriteFile(filepath.Join(dir, "registries.json"), []byte(`{"insecure-registries": ["registry.lan:5000"]}`), 0o644)
	if c, err = a.registryClient(); err != nil || !c.IsInsecure("registry.lan:5000") || c.IsInsecure("registry.lan:5001") {
		t.Fatalf("with registry.lan:5000 insecure: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "registries.json"), []byte(`{"insecure-registries": "registry.lan"}`), 0o644)
	if _, err = a.registryClient(); !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "registries.json") {
		t.Fatalf("a malformed config: %v", err)
	}
}

func TestRegistryDomain(t *testing.T) {
	for in, want := range map[string]string{
		"": "docker.io", "docker.io": "docker.io", "https://index.docker.io/v1/": "docker.io",
		"registry-1.docker.io": "docker.io", "localhost:5000": "localhost:5000",
		"http://127.0.0.1:5000/v2/": "127.0.0.1:5000", "ghcr.io": "ghcr.io",
	} {
		if got := registryDomain(in); got != want {
			t.Errorf("registryDomain(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLoginHint(t *testing.T) {
	for _, tc := range []struct {
		err    error
		domain string
		want   string
	}{
		{errdefs.ErrUnauthorized, "docker.io", "Log in with `strata login`,"},
		{errdefs.ErrUnauthorized, "localhost:5000", "Log in with `strata login localhost:5000`"},
		{errdefs.ErrForbidden, "ghcr.io", "refuses this"},
		{errdefs.ErrNotFound, "ghcr.io", ""},
	} {
		got := withLoginHint(tc.err, tc.domain)
		if !errors.Is(got, tc.err) || (tc.want == "") != (got == tc.err) || !strings.Contains(got.Error(), tc.want) {
			t.Errorf("withLoginHint(%v, %s) = %q", tc.err, tc.domain, got)
		}
	}
}
