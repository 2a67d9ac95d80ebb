package credentials

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/strata-dev/strata/internal/errdefs"
)

func writeConfig(t *testing.T, dir, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSetGetKeepsOtherKeys(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, dir, `{"auths":{"other.example":{"auth":"b3RoZXI6cHc="}},"psFormat":"table {{.ID}}","proxies":{"default":{"httpProxy":"x"}}}`)
	f, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Set("127.0.0.1:5000", Credential{Username: "alice", Password: "s3:cret"}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(f.Path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("config.json mode %v, want 0600", fi.Mode().Perm())
	}
	var raw map[string]json.RawMessage
	b, _ := os.ReadFile(f.Path())
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if string(raw["psFormat"]) != `"table {{.ID}}"` || raw["proxies"] == nil {
		t.Errorf("other keys lost: %s", b)
	}
	var auths map[string]map[string]string
	json.Unmarshal(raw["auths"], &auths)
	if got := auths["127.0.0.1:5000"]["auth"]; got != "YWxpY2U6czM6Y3JldA==" {
		t.Errorf("auth = %q, want base64 of alice:s3:cret", got)
	}
	again, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for server, want := range map[string]Credential{
		"127.0.0.1:5000": {Username: "alice", Password: "s3:cret"},
		"other.example":  {Username: "other", Password: "pw"},
		"nothing.here":   {},
	} {
		got, err := again.Get(server)
		if err != nil || got != want {
			t.Errorf("Get(%s) = %+v, %v; want %+v", server, got, err, want)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

func TestGetMatchesKeysByHost(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, dir, `{"auths":{
		"https://index.docker.io/v1/":{"auth":"aHViOmh1Yg=="},
		"http://reg.example:5000/v2/":{"auth":"cmVnOnJlZw=="},
		"tok.example":{"auth":"dTo=","identitytoken":"refresh-me"},
		"plain.example":{"username":"p","password":"q"}}}`)
	f, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		server string
		want   Credential
	}{
		{ServerKey("docker.io"), Credential{Username: "hub", Password: "hub"}},
		{ServerKey("registry-1.docker.io"), Credential{Username: "hub", Password: "hub"}},
		{"reg.example:5000", Credential{Username: "reg", Password: "reg"}},
		{"reg.example", Credential{}},
		{"tok.example", Credential{Username: "u", IdentityToken: "refresh-me"}},
		{"plain.example", Credential{Username: "p", Password: "q"}},
	} {
		got, err := f.Get(tc.server)
		if err != nil || got != tc.want {
			t.Errorf("Get(%s) = %+v, %v; want %+v", tc.server, got, err, tc.want)
		}
	}
}

func TestBadFiles(t *testing.T) {
	for name, body := range map[string]string{
		"not json":         `{"auths":`,
		"auths not object": `{"auths":[1,2]}`,
		"credsStore typed": `{"credsStore":7}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeConfig(t, dir, body)
			if _, err := Load(dir); !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("Load = %v, want invalid argument", err)
			}
			if b, _ := os.ReadFile(filepath.Join(dir, "config.json")); string(b) != body {
				t.Fatal("a bad file was changed")
			}
		})
	}
	for name, auth := range map[string]string{"not base64": "@@@", "no colon": "bm9jb2xvbg=="} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeConfig(t, dir, `{"auths":{"h":{"auth":"`+auth+`"}}}`)
			f, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Get("h"); !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("Get = %v, want invalid argument", err)
			}
		})
	}
}

func TestMissingAndEmptyFiles(t *testing.T) {
	dir := t.TempDir()
	f, err := Load(filepath.Join(dir, "absent"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Erase("h"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Erase on nothing = %v, want not found", err)
	}
	if err := f.Set("h", Credential{Username: "a", Password: "b"}); err != nil {
		t.Fatalf("Set creates the directory and file: %v", err)
	}
	writeConfig(t, dir, "  \n")
	if _, err := Load(dir); err != nil {
		t.Errorf("an empty file is an empty configuration: %v", err)
	}
}

func TestEraseAndSymlink(t *testing.T) {
	dir, target := t.TempDir(), t.TempDir()
	writeConfig(t, target, `{"auths":{"https://h:1/":{"auth":"YTpi"},"k":{"auth":"YTpi"}}}`)
	if err := os.Symlink(filepath.Join(target, "config.json"), filepath.Join(dir, "config.json")); err != nil {
		t.Fatal(err)
	}
	f, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Erase("h:1"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(filepath.Join(dir, "config.json")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the symlink was replaced: %v", err)
	}
	again, _ := Load(target)
	if c, _ := again.Get("h:1"); !c.Empty() {
		t.Errorf("erased login still there: %+v", c)
	}
	if c, _ := again.Get("k"); c.Username != "a" {
		t.Errorf("other login lost: %+v", c)
	}
}
