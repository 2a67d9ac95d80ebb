package credentials

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/testutil"
)

func TestCredentialHelpers(t *testing.T) {
	for _, tc := range []struct {
		name, config string
		server       string
	}{
		{"credsStore", `{"credsStore":"strtest","auths":{}}`, "127.0.0.1:5000"},
		{"credHelpers", `{"credHelpers":{"ghcr.example":"strtest"},"auths":{"ghcr.example":{"auth":"b2xkOm9sZA=="}}}`, "ghcr.example"},
		{"hub", `{"credsStore":"strtest"}`, DockerHubServer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := testutil.InstallCredentialHelper(t, "strtest")
			dir := t.TempDir()
			writeConfig(t, dir, tc.config)
			f, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			if c, err := f.Get(tc.server); err != nil || !c.Empty() {
				t.Fatalf("Get before login = %+v, %v; want nothing (the helper has nothing)", c, err)
			}
			want := Credential{Username: "bob", Password: "hunter2"}
			if err := f.Set(tc.server, want); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(f.Path())
			if strings.Contains(string(b), "aHVudGVyMg") || strings.Contains(string(b), "hunter2") || strings.Contains(string(b), "b2xkOm9sZA==") {
				t.Errorf("the secret is in config.json although a helper keeps it:\n%s", b)
			}
			if entries, _ := os.ReadDir(store); len(entries) != 1 {
				t.Fatalf("helper store holds %d records, want 1", len(entries))
			}
			again, _ := Load(dir)
			if got, err := again.Get(tc.server); err != nil || got != want {
				t.Fatalf("Get = %+v, %v; want %+v", got, err, want)
			}
			if err := again.Erase(tc.server); err != nil {
				t.Fatal(err)
			}
			if entries, _ := os.ReadDir(store); len(entries) != 0 {
				t.Fatal("erase left the record in the helper")
			}
			if err := again.Erase(tc.server); !errors.Is(err, errdefs.ErrNotFound) {
				t.Fatalf("second Erase = %v, want not found", err)
			}
		})
	}
}

func TestIdentityTokenThroughHelper(t *testing.T) {
	testutil.InstallCredentialHelper(t, "strtest")
	dir := t.TempDir()
	writeConfig(t, dir, `{"credsStore":"strtest"}`)
	f, _ := Load(dir)
	want := Credential{IdentityToken: "refresh-token"}
	if err := f.Set("h", want); err != nil {
		t.Fatal(err)
	}
	if got, err := f.Get("h"); err != nil || got != want {
		t.Fatalf("Get = %+v, %v; want %+v", got, err, want)
	}
}

func TestMissingHelper(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	dir := t.TempDir()
	writeConfig(t, dir, `{"credsStore":"nosuchhelper"}`)
	f, _ := Load(dir)
	_, err := f.Get("h")
	if !errors.Is(err, errdefs.ErrUnavailable) || !strings.Contains(err.Error(), "docker-credential-nosuchhelper") {
		t.Fatalf("Get = %v; want unavailable naming the helper", err)
	}
}
