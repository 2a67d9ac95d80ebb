package cli

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/testutil"
)

// syncBuffer is a buffer a serving command writes to while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// serveHub runs `strata hub serve args...` until the returned stop is
// called, which cancels it and returns its exit code.
func serveHub(t *testing.T, env map[string]string, args ...string) (out *syncBuffer, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out = &syncBuffer{}
	code := make(chan int, 1)
	go func() {
		code <- Run(ctx, append([]string{"hub", "serve"}, args...), Streams{In: strings.NewReader(""), Out: out, Err: out},
			func(k string) string { return env[k] })
	}()
	var once sync.Once
	result := 0
	stop = func() int {
		once.Do(func() { cancel(); result = <-code })
		return result
	}
	t.Cleanup(func() { stop() })
	return out, stop
}

func waitHTTP(t *testing.T, client *http.Client, url string) *http.Response {
	t.Helper()
	var resp *http.Response
	if !testutil.WaitFor(10*time.Second, func() bool {
		var err error
		resp, err = client.Get(url)
		return err == nil
	}) {
		t.Fatalf("%s never answered", url)
	}
	resp.Body.Close()
	return resp
}

func TestHubServeAndGC(t *testing.T) {
	dir := t.TempDir()
	addr := testutil.FreeAddr(t)
	cfgFile := filepath.Join(dir, "hub.toml")
	// The file names a data dir and an address; the flag overrides the address.
	os.WriteFile(cfgFile, []byte("addr = \"127.0.0.1:1\"\ndata_dir = \""+filepath.Join(dir, "data")+"\"\ngc_grace = \"90m\"\n"), 0o644)
	out, stop := serveHub(t, map[string]string{}, "--config", cfgFile, "--addr", addr)
	// With accounts, /v2/ tells an anonymous client where to get a token.
	resp := waitHTTP(t, http.DefaultClient, "http://"+addr+"/v2/")
	if resp.StatusCode != 401 || resp.Header.Get("Docker-Distribution-API-Version") != "registry/2.0" ||
		!strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), `Bearer realm="http://`+addr+`/auth/token"`) {
		t.Fatalf("/v2/: %d %v", resp.StatusCode, resp.Header)
	}
	if code := stop(); code != 0 {
		t.Fatalf("hub serve exited %d after its context ended:\n%s", code, out)
	}
	if !strings.Contains(out.String(), "serving http://"+addr) {
		t.Fatalf("hub serve said: %q", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "meta.db")); err != nil {
		t.Fatalf("the config file's data_dir was not used: %v", err)
	}

	e := &netEnv{vars: map[string]string{}}
	got := e.must(t, "", "hub", "gc", "--dry-run", "--config", cfgFile)
	if !strings.HasPrefix(got, "Would free 0 B: 0 blob(s)") {
		t.Fatalf("hub gc --dry-run: %q", got)
	}
	if got := e.must(t, "", "hub", "gc", "--data-dir", filepath.Join(dir, "data")); !strings.HasPrefix(got, "Freed 0 B") {
		t.Fatalf("hub gc: %q", got)
	}
	if got := e.must(t, "", "hub", "retention", "--dry-run", "--config", cfgFile); got != "Would delete 0 tag(s) and 0 manifest(s) from 0 repository(ies)\n" {
		t.Fatalf("hub retention --dry-run: %q", got)
	}
}

func TestHubConfigErrors(t *testing.T) {
	dir := t.TempDir()
	e := &netEnv{vars: map[string]string{}}
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("adress = \"x\"\n"), 0o644)
	badMirror := func(body string) string {
		p := filepath.Join(dir, fmt.Sprintf("mirror%d.toml", len(body)))
		os.WriteFile(p, []byte("[[mirror]]\n"+body), 0o644)
		return p
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"hub", "serve", "--config", bad}, `unknown key "adress"`},
		{[]string{"hub", "serve", "--config", filepath.Join(dir, "none.toml")}, "no such file"},
		{[]string{"hub", "serve", "--tls-cert", "c.pem", "--data-dir", dir}, "both --tls-cert and --tls-key"},
		{[]string{"hub", "gc", "--data-dir", filepath.Join(dir, "empty")}, "no hub data in"},
		{[]string{"hub", "serve", "extra"}, "unknown command"},
		{[]string{"hub", "serve", "--max-blob-size", "lots", "--data-dir", dir}, `max_blob_size = "lots": want a size`},
		{[]string{"hub", "serve", "--quota", "-5GB", "--data-dir", dir}, `quota = "-5GB": want a size`},
		{[]string{"hub", "serve", "--max-manifest-size", "5MiB", "--data-dir", dir}, "more than 4194304 bytes"},
		{[]string{"hub", "serve", "--trusted-proxy", "10.0.0.0/33", "--data-dir", dir}, `trusted_proxies = "10.0.0.0/33"`},
		{[]string{"hub", "serve", "--data-dir", dir, "--config", badMirror("url = \"https://r.example\"\nprefix = \"Docker.IO\"\n")}, `prefix "Docker.IO"`},
		{[]string{"hub", "serve", "--data-dir", dir, "--config", badMirror("url = \"ftp://r\"\nprefix = \"r\"\n")}, `url "ftp://r"`},
		{[]string{"hub", "serve", "--data-dir", dir, "--config", badMirror("url = \"https://r.example\"\nprefix = \"r\"\ntag_ttl = \"soon\"\n")}, `mirror.tag_ttl = "soon"`},
	} {
		_, errs, code := e.run("", tc.args...)
		if code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("strata %s: exit %d, %q; want an error saying %q", strings.Join(tc.args, " "), code, errs, tc.want)
		}
	}
}

// Limits reach the hub from the config file and from flags (which win).
func TestHubServeLimits(t *testing.T) {
	dir := t.TempDir()
	addr := testutil.FreeAddr(t)
	cfgFile := filepath.Join(dir, "hub.toml")
	os.WriteFile(cfgFile, []byte("max_blob_size = \"1MiB\"\nquota = \"3KiB\"\nmax_uploads = 5\n"), 0o644)
	serveHub(t, map[string]string{}, "--config", cfgFile, "--max-blob-size", "2KiB", "--addr", addr,
		"--data-dir", filepath.Join(dir, "data"), "--open")
	base := "http://" + addr
	waitHTTP(t, http.DefaultClient, base+"/v2/")
	post := func(repo string, size int) int {
		b := bytes.Repeat([]byte{byte(size % 251)}, size)
		resp, err := http.Post(base+"/v2/"+repo+"/blobs/uploads/?digest="+digest.FromBytes(b).String(), "application/octet-stream", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		repo string
		size int
		want int
	}{
		{"alice/a", 2049, 413}, // the flag's 2KiB, not the file's 1MiB
		{"alice/a", 2048, 201},
		{"alice/b", 1024, 201},
		{"alice/c", 1025, 403}, // past the file's quota of 3KiB
		{"bob/a", 1025, 201},
	} {
		if got := post(tc.repo, tc.size); got != tc.want {
			t.Errorf("a blob of %d bytes into %s: %d, want %d", tc.size, tc.repo, got, tc.want)
		}
	}
}

func TestHubServeTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	addr := testutil.FreeAddr(t)
	serveHub(t, map[string]string{}, "--addr", addr, "--data-dir", filepath.Join(dir, "data"),
		"--tls-cert", certFile, "--tls-key", keyFile, "--open")
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if resp := waitHTTP(t, client, "https://"+addr+"/v2/"); resp.StatusCode != 200 {
		t.Fatalf("https /v2/ of an open hub: %d", resp.StatusCode)
	}
}

func TestHubUser(t *testing.T) {
	data := t.TempDir()
	e := &netEnv{vars: map[string]string{}}
	if out := e.must(t, "first-pass-1\n", "hub", "user", "create", "alice", "--password-stdin", "--data-dir", data); out != "Created administrator alice\n" {
		t.Fatalf("the first user: %q", out)
	}
	if out := e.must(t, "second-pass-2", "hub", "user", "create", "bob", "--password-stdin", "--data-dir", data); out != "Created user bob\n" {
		t.Fatalf("the second user: %q", out)
	}
	e.must(t, "", "hub", "user", "disable", "bob", "--data-dir", data)
	e.must(t, "", "hub", "user", "promote", "bob", "--data-dir", data)
	e.must(t, "", "hub", "user", "enable", "bob", "--data-dir", data)
	e.must(t, "", "hub", "user", "demote", "alice", "--data-dir", data)
	out := e.must(t, "", "hub", "user", "ls", "--data-dir", data)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") || !strings.HasPrefix(strings.Join(strings.Fields(lines[1]), " "), "alice no no public") ||
		!strings.HasPrefix(strings.Join(strings.Fields(lines[2]), " "), "bob yes no public") {
		t.Fatalf("hub user ls:\n%s", out)
	}
	e.must(t, "new-password-3", "hub", "user", "passwd", "bob", "--password-stdin", "--data-dir", data)
	for _, tc := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"pw-long-enough", []string{"create", "alice"}, "already exists"},
		{"short", []string{"create", "carol"}, "too short"},
		{"pw-long-enough", []string{"create", "Carol"}, "lowercase letters"},
		{"pw-long-enough", []string{"create", "admin"}, "reserved"},
		{"", []string{"create", "carol"}, "without a terminal"},
		{"", []string{"demote", "bob"}, "last administrator"},
		{"", []string{"rm", "bob"}, "last administrator"},
		{"", []string{"disable", "nobody"}, "not found"},
	} {
		args := append([]string{"hub", "user"}, tc.args...)
		if tc.stdin != "" {
			args = append(args, "--password-stdin")
		}
		_, errs, code := e.run(tc.stdin, append(args, "--data-dir", data)...)
		if code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("strata %s: exit %d, %q; want an error saying %q", strings.Join(tc.args, " "), code, errs, tc.want)
		}
	}
	if out := e.must(t, "", "hub", "user", "rm", "alice", "--data-dir", data); out != "Deleted user alice\n" {
		t.Fatalf("hub user rm: %q", out)
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T, dir string) (string, string, *x509.CertPool) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "strata test hub"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile := filepath.Join(dir, "hub.crt"), filepath.Join(dir, "hub.key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// strata hub fsck re-hashes what the hub stores: it names each damaged
// blob and why, quarantines it (exit 1), and a dry run changes nothing.
func TestHubFsck(t *testing.T) {
	dir := t.TempDir()
	data, addr := filepath.Join(dir, "data"), testutil.FreeAddr(t)
	_, stop := serveHub(t, map[string]string{}, "--addr", addr, "--data-dir", data, "--open")
	base := "http://" + addr
	waitHTTP(t, http.DefaultClient, base+"/v2/")
	blobs := map[string][]byte{"good": bytes.Repeat([]byte("g"), 3000), "rotten": bytes.Repeat([]byte("r"), 3000)}
	for _, b := range blobs {
		resp, err := http.Post(base+"/v2/lib/x/blobs/uploads/?digest="+digest.FromBytes(b).String(), "application/octet-stream", bytes.NewReader(b))
		if err != nil || resp.StatusCode != 201 {
			t.Fatalf("push: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	stop()
	rotten := digest.FromBytes(blobs["rotten"])
	os.WriteFile(filepath.Join(data, "content", "blobs", "sha256", rotten.Encoded()[:2], rotten.Encoded()), []byte("rot"), 0o644)

	e := &netEnv{vars: map[string]string{}}
	for _, tc := range []struct {
		args []string
		code int
		out  []string
	}{
		{[]string{"--dry-run"}, 1, []string{rotten.String() + " (3 kB (3000 bytes)): content is 3 bytes hashing to sha256:", "would be quarantined", "Checked 2 blob(s)"}},
		{nil, 1, []string{rotten.String(), ": quarantined", "Checked 2 blob(s), 6 kB (6000 bytes): 1 damaged"}},
		{nil, 0, []string{"Checked 1 blob(s), 3 kB (3000 bytes): 0 damaged"}},
	} {
		out, errs, code := e.run("", append([]string{"hub", "fsck", "--data-dir", data}, tc.args...)...)
		for _, want := range tc.out {
			if !strings.Contains(out, want) {
				t.Errorf("hub fsck %v said %q, want %q", tc.args, out, want)
			}
		}
		if code != tc.code || (code != 0 && !strings.Contains(errs, "damaged blob")) {
			t.Errorf("hub fsck %v: exit %d (want %d): %s", tc.args, code, tc.code, errs)
		}
	}
}

// strata hub org: an organization made and run from the hub's machine,
// with its changes in the audit log and hostile input refused.
func TestHubOrg(t *testing.T) {
	data := t.TempDir()
	e := &netEnv{vars: map[string]string{}}
	for _, u := range []string{"alice", "bob", "carol"} {
		e.must(t, u+"-pass-123", "hub", "user", "create", u, "--password-stdin", "--data-dir", data)
	}
	hubOrg := func(args ...string) string {
		t.Helper()
		return e.must(t, "", append(append([]string{"hub", "org"}, args...), "--data-dir", data)...)
	}
	if out := hubOrg("create", "acme", "--owner", "alice"); out != "Created organization acme, owned by alice\n" {
		t.Fatalf("hub org create: %q", out)
	}
	hubOrg("add", "acme", "bob")
	hubOrg("add", "acme", "carol", "--owner")
	hubOrg("team", "acme", "devs", "--member", "bob")
	hubOrg("team", "acme", "devs", "--member", "carol") // a team that exists takes more members
	if tok := strings.TrimSpace(hubOrg("token", "acme", "ci", "--scope", "read-write", "--expires", "30")); !strings.HasPrefix(tok, "strata_oat_") {
		t.Fatalf("hub org token printed %q", tok)
	}
	show := hubOrg("show", "acme")
	for _, want := range []string{"alice owner", "bob member", "carol owner", "devs bob,carol"} {
		if !strings.Contains(strings.Join(strings.Fields(show), " "), want) {
			t.Errorf("hub org show lacks %q:\n%s", want, show)
		}
	}
	if ls := hubOrg("ls"); !strings.Contains(ls, "acme") || !strings.Contains(ls, "alice") {
		t.Fatalf("hub org ls:\n%s", ls)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"create", "bob", "--owner", "alice"}, "taken"},
		{[]string{"create", "Acme2", "--owner", "alice"}, "lowercase letters"},
		{[]string{"create", "beta"}, "--owner"},
		{[]string{"create", "beta", "--owner", "nobody"}, "not found"},
		{[]string{"add", "acme", "nobody"}, "not found"},
		{[]string{"remove", "acme", "alice"}, ""}, // carol still owns it
		{[]string{"remove", "acme", "carol"}, "no owner left"},
		{[]string{"team", "acme", "Bad Team"}, "lowercase letters"},
		{[]string{"team", "acme", "devs", "--grant", "acme/app"}, "REPO=ROLE"},
		{[]string{"team", "acme", "devs", "--grant", "acme/app=write"}, "not found"},
		{[]string{"team", "acme", "devs", "--grant", "alice/app=read"}, "not found"},
		{[]string{"token", "acme", "ci", "--scope", "read-write-delete"}, "read or read-write"},
		{[]string{"token", "nobody", "ci"}, "not found"},
		{[]string{"show", "nobody"}, "not found"},
	} {
		_, errs, code := e.run("", append(append([]string{"hub", "org"}, tc.args...), "--data-dir", data)...)
		if (code == 0) != (tc.want == "") || !strings.Contains(errs, tc.want) {
			t.Errorf("strata hub org %s: exit %d, %q; want %q", strings.Join(tc.args, " "), code, errs, tc.want)
		}
	}
	hubOrg("team", "acme", "devs", "--rm")
	if out := hubOrg("rm", "acme"); out != "Deleted organization acme\n" {
		t.Fatalf("hub org rm: %q", out)
	}
	audit := e.must(t, "", "hub", "audit", "export", "--data-dir", data)
	for _, want := range []string{"org.create", "org.member.set", "team.create", "team.member.add", "org.token.create", "org.member.remove", "team.delete", "org.delete"} {
		if !strings.Contains(audit, want) {
			t.Errorf("the audit log lacks %s:\n%s", want, audit)
		}
	}
}
