package build

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/strata-dev/strata/internal/errdefs"
)

// ServeSSHKeys serves an SSH agent holding the private keys in files (as
// `--ssh default=~/.ssh/id_ed25519` gives them, the way BuildKit takes
// them) on a socket in dir, a directory only root enters, until stop. A
// key with a passphrase is refused: load it into an ssh-agent and give its
// socket instead.
func ServeSSHKeys(dir string, files []string) (sock string, stop func(), err error) {
	keyring := agent.NewKeyring()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", nil, fmt.Errorf("--ssh key %s: %w", f, notFound(err))
		}
		key, err := ssh.ParseRawPrivateKey(b)
		var missing *ssh.PassphraseMissingError
		if errors.As(err, &missing) {
			return "", nil, fmt.Errorf("--ssh key %s has a passphrase: ssh-add it to an agent and give --ssh ID=$SSH_AUTH_SOCK: %w", f, errdefs.ErrInvalidArgument)
		}
		if err != nil {
			return "", nil, fmt.Errorf("--ssh key %s: %v: %w", f, err, errdefs.ErrInvalidArgument)
		}
		if err := keyring.Add(agent.AddedKey{PrivateKey: key, Comment: filepath.Base(f)}); err != nil {
			return "", nil, err
		}
	}
	sock = filepath.Join(dir, "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		return "", nil, err
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				agent.ServeAgent(keyring, c)
			}()
		}
	}()
	return sock, func() { l.Close() }, nil
}
