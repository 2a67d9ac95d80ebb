package cli

import (
	"strings"
	"testing"
)

// strata hub key: list the keys, add the next (published, then signing),
// revoke one, and errors that say what went wrong.
func TestHubKey(t *testing.T) {
	data := t.TempDir()
	e := &netEnv{vars: map[string]string{}}
	rows := func() [][]string {
		out := e.must(t, "", "hub", "key", "ls", "--data-dir", data)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if !strings.HasPrefix(lines[0], "KEY ID") {
			t.Fatalf("hub key ls:\n%s", out)
		}
		var rows [][]string
		for _, l := range lines[1:] {
			rows = append(rows, strings.Fields(l))
		}
		return rows
	}
	first := rows()
	if len(first) != 1 || first[0][1] != "signing" {
		t.Fatalf("a new hub's keys: %v", first)
	}
	if out := e.must(t, "", "hub", "key", "rotate", "--data-dir", data); !strings.HasPrefix(out, "Added key ") {
		t.Fatalf("hub key rotate: %q", out)
	}
	if r := rows(); len(r) != 2 || r[0][1] != "signing" || r[1][1] != "next" {
		t.Fatalf("after a rotation with an hour's publishing: %v", r)
	}
	e.must(t, "", "hub", "key", "rotate", "--publish", "0", "--data-dir", data)
	r := rows()
	if len(r) != 3 || r[0][1] != "verifies" || r[1][1] != "signing" || r[2][1] != "next" {
		t.Fatalf("after a rotation at once: %v", r)
	}
	if out := e.must(t, "", "hub", "key", "rm", "--data-dir", data, "--", r[1][0]); out != "Revoked key "+r[1][0]+"\n" {
		t.Fatalf("hub key rm: %q", out)
	}
	if after := rows(); len(after) != 3 || after[1][1] != "signing" || after[1][0] == r[1][0] || after[0][0] != first[0][0] {
		t.Fatalf("after revoking the key that signed: %v", after)
	}
	if _, errs, code := e.run("", "hub", "key", "rm", "nonsense", "--data-dir", data); code == 0 || !strings.Contains(errs, "no signing key") {
		t.Fatalf("revoking a key that is not there: %d %q", code, errs)
	}
}
