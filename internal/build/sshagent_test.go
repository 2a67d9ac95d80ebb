package build

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// writeKey writes a new ed25519 private key, with a passphrase when one is
// given, and returns its file and public key.
func writeKey(t *testing.T, passphrase string) (string, ssh.PublicKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	if passphrase != "" {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "test", []byte(passphrase))
	} else {
		block, err = ssh.MarshalPrivateKey(priv, "test")
	}
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "id_ed25519")
	os.WriteFile(p, pem.EncodeToMemory(block), 0o600)
	sp, _ := ssh.NewPublicKey(pub)
	return p, sp
}

// --ssh default=KEYFILE: an agent of strata's own serves the key.
func TestServeSSHKeys(t *testing.T) {
	file, pub := writeKey(t, "")
	sock, stop, err := ServeSSHKeys(t.TempDir(), []string{file})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	keys, err := agent.NewClient(c).List()
	if err != nil || len(keys) != 1 || string(keys[0].Marshal()) != string(pub.Marshal()) {
		t.Errorf("the agent lists %v, %v; want the one key", keys, err)
	}
	locked, _ := writeKey(t, "secret")
	for _, tc := range []struct{ file, want string }{
		{locked, "has a passphrase"}, {filepath.Join(t.TempDir(), "none"), "no such file"}, {sock, "--ssh key"},
	} {
		if _, _, err := ServeSSHKeys(t.TempDir(), []string{tc.file}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.file, err, tc.want)
		}
	}
}
