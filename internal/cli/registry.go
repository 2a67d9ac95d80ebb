package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/strata-dev/strata/internal/credentials"
	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/remote"
)

// registryConfig is strata's own configuration of registries, in
// <config dir>/registries.json:
//
//	{"insecure-registries": ["registry.lan:5000"]}
//
// Listed registries are spoken to over https without verifying the
// certificate, or plain http when that is what they answer (localhost and
// 127.0.0.0/8 always are), as Docker's daemon.json setting of the same name.
type registryConfig struct {
	InsecureRegistries []string `json:"insecure-registries"`
}

// configDir is where strata's configuration lives: $STRATA_CONFIG, else
// /etc/strata for root, else $XDG_CONFIG_HOME/strata (~/.config/strata).
func configDir(getenv func(string) string) string {
	if d := getenv("STRATA_CONFIG"); d != "" {
		return d
	}
	if os.Geteuid() == 0 {
		return "/etc/strata"
	}
	if x := getenv("XDG_CONFIG_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "strata")
	}
	home := getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return filepath.Join(home, ".config", "strata")
}

func loadRegistryConfig(getenv func(string) string) (registryConfig, error) {
	var rc registryConfig
	path := filepath.Join(configDir(getenv), "registries.json")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return rc, nil
	}
	if err != nil {
		return rc, err
	}
	if err := json.Unmarshal(b, &rc); err != nil {
		return rc, fmt.Errorf("%s: %v: %w", path, err, errdefs.ErrInvalidArgument)
	}
	return rc, nil
}

// registryClient builds the registry client every network command uses: the
// logins of Docker's config.json, the insecure registries of strata's config.
func (a *app) registryClient() (*remote.Client, error) {
	rc, err := loadRegistryConfig(a.getenv)
	if err != nil {
		return nil, err
	}
	var once sync.Once
	var file *credentials.File
	var loadErr error
	creds := func(domain string) (credentials.Credential, error) {
		once.Do(func() { file, loadErr = credentials.Load(credentials.Dir(a.getenv)) })
		if loadErr != nil {
			return credentials.Credential{}, loadErr
		}
		return file.Get(credentials.ServerKey(domain))
	}
	return remote.New(remote.Options{Credentials: creds, Insecure: rc.InsecureRegistries, UserAgent: "strata"}), nil
}

// registryDomain reads a login server as users write it ("docker.io",
// "https://host:5000/v1/", "localhost:5000") and returns the registry's
// domain; "" means Docker Hub.
func registryDomain(server string) string {
	s := strings.TrimPrefix(strings.TrimPrefix(server, "https://"), "http://")
	s, _, _ = strings.Cut(s, "/")
	if s == "" || credentials.ServerKey(s) == credentials.DockerHubServer {
		return remote.DockerHubDomain
	}
	return s
}

// withLoginHint adds what to do to an authentication or permission failure.
func withLoginHint(err error, domain string) error {
	cmd := "strata login"
	if domain != remote.DockerHubDomain {
		cmd += " " + domain
	}
	switch {
	case errors.Is(err, errdefs.ErrUnauthorized):
		return fmt.Errorf("%w\nLog in with `%s`, or check that you may access this repository", err, cmd)
	case errors.Is(err, errdefs.ErrForbidden):
		return fmt.Errorf("%w\nThe registry knows you but refuses this: check the repository's name and your rights to it (or log in as someone else with `%s`)", err, cmd)
	}
	return err
}
