package cli

import (
	"fmt"
	"strings"

	"github.com/strata-dev/strata/internal/build"
	"github.com/strata-dev/strata/internal/errdefs"
)

// buildSecrets reads --secret, --ssh and --allow into o.
func (a *app) buildSecrets(f buildFlags, o *build.Options) error {
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
		id, sock, ok := strings.Cut(v, "=")
		if !ok {
			sock = a.getenv("SSH_AUTH_SOCK")
			if sock == "" {
				return fmt.Errorf("--ssh %s: SSH_AUTH_SOCK is not set: start ssh-agent, or give ID=SOCKET: %w", v, errdefs.ErrInvalidArgument)
			}
		}
		if strings.Contains(sock, ",") {
			return fmt.Errorf("--ssh %s: strata forwards one agent socket per id, not key files: %w", v, errdefs.ErrInvalidArgument)
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
