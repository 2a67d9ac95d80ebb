package credentials

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/strata-dev/strata/internal/errdefs"
)

// helper runs docker-credential-<name>, speaking Docker's credential helper
// protocol: the action is the first argument, the input comes on stdin (the
// server URL for get and erase, a JSON record for store) and the answer on
// stdout. A helper that has nothing for the server says so on stdout and
// exits non-zero.
type helper struct{ name string }

// helperRecord is what get answers and store takes.
type helperRecord struct {
	ServerURL string `json:"ServerURL"`
	Username  string `json:"Username"`
	Secret    string `json:"Secret"`
}

// tokenUser is the Username a helper record carries when Secret is an
// identity token rather than a password (Docker's convention).
const tokenUser = "<token>"

// notFoundText is how helpers say they hold nothing for a server.
const notFoundText = "credentials not found in native keychain"

func (f *File) helper(name string) helper { return helper{name: name} }

func (h helper) program() (string, error) {
	prog := "docker-credential-" + h.name
	p, err := exec.LookPath(prog)
	if err != nil {
		return "", fmt.Errorf("credential helper %s is configured in config.json but is not installed (not in PATH): %w", prog, errdefs.ErrUnavailable)
	}
	return p, nil
}

// run runs one action and returns its stdout. A failure whose output says
// the credentials are not there becomes errdefs.ErrNotFound.
func (h helper) run(action string, input []byte) ([]byte, error) {
	prog, err := h.program()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(prog, action)
	cmd.Stdin = bytes.NewReader(input)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stdout.String() + " " + stderr.String())
		if strings.Contains(msg, notFoundText) {
			return nil, fmt.Errorf("%s %s: %w", filepath.Base(prog), action, errdefs.ErrNotFound)
		}
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			return nil, fmt.Errorf("run %s %s: %w", filepath.Base(prog), action, err)
		}
		return nil, fmt.Errorf("%s %s failed: %s", filepath.Base(prog), action, firstLine(msg, err.Error()))
	}
	return stdout.Bytes(), nil
}

func firstLine(s, fallback string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if s == "" {
		return fallback
	}
	return s
}

func (h helper) get(server string) (Credential, error) {
	out, err := h.run("get", []byte(server))
	if errors.Is(err, errdefs.ErrNotFound) {
		return Credential{}, nil
	}
	if err != nil {
		return Credential{}, err
	}
	var r helperRecord
	if err := json.Unmarshal(out, &r); err != nil {
		return Credential{}, fmt.Errorf("docker-credential-%s get: answer is not JSON: %v", h.name, err)
	}
	if r.Username == tokenUser {
		return Credential{IdentityToken: r.Secret}, nil
	}
	return Credential{Username: r.Username, Password: r.Secret}, nil
}

func (h helper) store(server string, c Credential) error {
	r := helperRecord{ServerURL: server, Username: c.Username, Secret: c.Password}
	if c.IdentityToken != "" {
		r.Username, r.Secret = tokenUser, c.IdentityToken
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = h.run("store", b)
	return err
}

func (h helper) erase(server string) error {
	_, err := h.run("erase", []byte(server))
	return err
}
