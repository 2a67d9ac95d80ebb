package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/strata-dev/strata/internal/build"
	"github.com/strata-dev/strata/internal/errdefs"
)

// sshSocket is the agent socket --ssh names: an agent's socket as it is,
// or key files (comma-separated), served by an agent of strata's own until
// the command ends.
func (a *app) sshSocket(paths string, release *[]func()) (string, error) {
	if fi, err := os.Stat(paths); err == nil && fi.Mode()&os.ModeSocket != 0 {
		return paths, nil
	}
	dir, err := os.MkdirTemp("", "strata-ssh-")
	if err != nil {
		return "", err
	}
	sock, stop, err := build.ServeSSHKeys(dir, strings.Split(paths, ","))
	if err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	*release = append(*release, func() { stop(); os.RemoveAll(dir) })
	return sock, nil
}

// buildSecrets reads --secret, --ssh and --allow into o; release stops
// the SSH agents it started.
func (a *app) buildSecrets(f buildFlags, o *build.Options, release *[]func()) error {
	for _, v := range f.secrets {
		id, src, err := build.ParseSecret(v, func(k string) (string, bool) { return lookupEnv(a.getenv, k) })
		if err != nil {
			return err
		}
		if o.Secrets == nil {
			o.Secrets = build.Secrets{}
		}
		o.Secrets[id] = src
	}
	for _, v := range f.ssh {
		id, paths, ok := strings.Cut(v, "=")
		if !ok {
			paths = a.getenv("SSH_AUTH_SOCK")
			if paths == "" {
				return fmt.Errorf("--ssh %s: SSH_AUTH_SOCK is not set: start ssh-agent, or give ID=SOCKET or ID=KEYFILE: %w", v, errdefs.ErrInvalidArgument)
			}
		}
		sock, err := a.sshSocket(paths, release)
		if err != nil {
			return fmt.Errorf("--ssh %s: %w", v, err)
		}
		if o.SSH == nil {
			o.SSH = map[string]string{}
		}
		o.SSH[id] = sock
	}
	for _, e := range f.allow {
		if e != "network.host" {
			return fmt.Errorf("--allow %s: strata grants network.host only: %w", e, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}
