// Package credentials reads and writes registry logins where Docker keeps
// them, so that `docker login` and `strata login` share one set: the
// config.json in $DOCKER_CONFIG (default ~/.docker).
//
// The file's format is Docker's:
//
//	{
//	  "auths": {"localhost:5000": {"auth": "base64(user:password)"}},
//	  "credsStore": "pass",                       // helper for every server
//	  "credHelpers": {"ghcr.io": "gh"},           // helper for one server
//	  ...                                         // other keys, kept as they are
//	}
//
// A server named in credHelpers, or any server when credsStore is set, has its
// secret kept by the program docker-credential-<helper> (the helper protocol:
// get, store, erase on stdin/stdout); config.json then holds an empty entry for
// it, as Docker writes. The file is rewritten atomically with mode 0600, and
// keys strata does not know stay as they were.
package credentials

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/strata-dev/strata/internal/errdefs"
)

// DockerHubServer is the key Docker files Docker Hub's login under.
const DockerHubServer = "https://index.docker.io/v1/"

// Credential is one login. IdentityToken, when set, is an OAuth refresh token
// that the registry's token endpoint exchanges for access tokens; Username and
// Password are then unused.
type Credential struct {
	Username      string
	Password      string
	IdentityToken string
}

// Empty reports whether c holds no secret at all (an anonymous access).
func (c Credential) Empty() bool {
	return c.Username == "" && c.Password == "" && c.IdentityToken == ""
}

// authEntry is one value of "auths", as Docker writes it.
type authEntry struct {
	Auth          string `json:"auth,omitempty"`
	Username      string `json:"username,omitempty"` // read only: Docker folds these into auth
	Password      string `json:"password,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
	RegistryToken string `json:"registrytoken,omitempty"`
	Email         string `json:"email,omitempty"` // old files have it; kept
}

// File is a loaded config.json. Its zero value is not usable: call Load.
type File struct {
	path        string
	raw         map[string]json.RawMessage // every key, including the ones below
	auths       map[string]authEntry
	credsStore  string
	credHelpers map[string]string
}

// Dir is Docker's config directory: $DOCKER_CONFIG, else ~/.docker.
func Dir(getenv func(string) string) string {
	if d := getenv("DOCKER_CONFIG"); d != "" {
		return d
	}
	home := getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return filepath.Join(home, ".docker")
}

// Load reads dir/config.json. A missing file is an empty configuration; a
// file that is not Docker's JSON is an error that names it.
func Load(dir string) (*File, error) {
	f := &File{path: filepath.Join(dir, "config.json"), raw: map[string]json.RawMessage{},
		auths: map[string]authEntry{}, credHelpers: map[string]string{}}
	b, err := os.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", f.path, err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return f, nil
	}
	if err := json.Unmarshal(b, &f.raw); err != nil {
		return nil, fmt.Errorf("%s is not valid JSON (%v); fix or remove it: %w", f.path, err, errdefs.ErrInvalidArgument)
	}
	for key, dst := range map[string]any{"auths": &f.auths, "credsStore": &f.credsStore, "credHelpers": &f.credHelpers} {
		if v, ok := f.raw[key]; ok && string(v) != "null" {
			if err := json.Unmarshal(v, dst); err != nil {
				return nil, fmt.Errorf("%s: %q: %v: %w", f.path, key, err, errdefs.ErrInvalidArgument)
			}
		}
	}
	if f.auths == nil {
		f.auths = map[string]authEntry{}
	}
	if f.credHelpers == nil {
		f.credHelpers = map[string]string{}
	}
	return f, nil
}

// Path is the file's location.
func (f *File) Path() string { return f.path }

// ServerKey is the key a registry host's login is filed under: Docker Hub's
// historical URL for docker.io and its endpoints, the host[:port] otherwise.
func ServerKey(host string) string {
	switch host {
	case "docker.io", "index.docker.io", "registry-1.docker.io", DockerHubServer:
		return DockerHubServer
	}
	return host
}

// hostOf reduces a key as users and old clients wrote it
// ("https://host:port/v1/") to host:port, as Docker matches them.
func hostOf(key string) string {
	key = strings.TrimPrefix(strings.TrimPrefix(key, "https://"), "http://")
	h, _, _ := strings.Cut(key, "/")
	return h
}

// helperFor names the credential helper that keeps server's secret, or "".
func (f *File) helperFor(server string) string {
	if h, ok := f.credHelpers[server]; ok {
		return h
	}
	return f.credsStore
}

// Get returns the login for server (a key from ServerKey). No login is not
// an error: it returns an empty Credential.
func (f *File) Get(server string) (Credential, error) {
	if h := f.helperFor(server); h != "" {
		return f.helper(h).get(server)
	}
	e, ok := f.auths[server]
	if !ok {
		want := hostOf(server)
		for k, v := range f.auths {
			if hostOf(k) == want {
				e, ok = v, true
				break
			}
		}
	}
	if !ok {
		return Credential{}, nil
	}
	return e.credential(f.path, server)
}

func (e authEntry) credential(path, server string) (Credential, error) {
	c := Credential{Username: e.Username, Password: e.Password, IdentityToken: e.IdentityToken}
	if e.Auth == "" {
		return c, nil
	}
	dec, err := base64.StdEncoding.DecodeString(e.Auth)
	if err != nil {
		return Credential{}, fmt.Errorf("%s: the auth of %q is not base64; log in again: %w", path, server, errdefs.ErrInvalidArgument)
	}
	user, pass, ok := strings.Cut(string(dec), ":")
	if !ok {
		return Credential{}, fmt.Errorf("%s: the auth of %q is not user:password; log in again: %w", path, server, errdefs.ErrInvalidArgument)
	}
	c.Username, c.Password = user, strings.Trim(pass, "\x00")
	return c, nil
}

// Set records c as the login for server: in its helper when one is
// configured, else base64 in "auths". The file is saved.
func (f *File) Set(server string, c Credential) error {
	if h := f.helperFor(server); h != "" {
		if err := f.helper(h).store(server, c); err != nil {
			return err
		}
		f.auths[server] = authEntry{} // Docker notes the server, without its secret
		return f.save()
	}
	e := authEntry{IdentityToken: c.IdentityToken}
	if c.Username != "" || c.Password != "" {
		e.Auth = base64.StdEncoding.EncodeToString([]byte(c.Username + ":" + c.Password))
	}
	f.auths[server] = e
	return f.save()
}

// Erase forgets the login for server. It returns errdefs.ErrNotFound when
// there was none, in the file or in the helper.
func (f *File) Erase(server string) error {
	found := false
	for k := range f.auths {
		if k == server || hostOf(k) == hostOf(server) {
			delete(f.auths, k)
			found = true
		}
	}
	if h := f.helperFor(server); h != "" {
		err := f.helper(h).erase(server)
		switch {
		case err == nil:
			found = true
		case !errors.Is(err, errdefs.ErrNotFound):
			return err
		}
	}
	if !found {
		return fmt.Errorf("not logged in to %s: %w", server, errdefs.ErrNotFound)
	}
	return f.save()
}

// save writes the file atomically (a temporary file in the same directory,
// fsynced, renamed over it) with mode 0600. A config.json that is a symlink
// is written through, as Docker does.
func (f *File) save() error {
	auths, err := json.Marshal(f.auths)
	if err != nil {
		return err
	}
	f.raw["auths"] = auths
	b, err := json.MarshalIndent(f.raw, "", "\t")
	if err != nil {
		return err
	}
	path := f.path
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("save logins: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".config.json-*")
	if err != nil {
		return fmt.Errorf("save logins: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err == nil {
		if _, err = tmp.Write(append(b, '\n')); err == nil {
			err = tmp.Sync()
		}
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("save logins to %s: %w", path, err)
	}
	return nil
}
