package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

// strata hub audit export: what administrators did on the command line is
// in the log, as JSON lines, filtered by user and action.
func TestHubAuditExport(t *testing.T) {
	data := t.TempDir()
	e := &netEnv{vars: map[string]string{}}
	e.must(t, "pw-for-alice-1\n", "hub", "user", "create", "alice", "--password-stdin", "--data-dir", data)
	e.must(t, "pw-for-bob-12\n", "hub", "user", "create", "bob", "--password-stdin", "--data-dir", data)
	e.must(t, "", "hub", "user", "disable", "bob", "--data-dir", data)
	e.must(t, "", "hub", "key", "rotate", "--data-dir", data)
	out := e.must(t, "", "hub", "audit", "export", "--data-dir", data)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.Contains(lines[0], `"action":"admin.key.rotate"`) {
		t.Fatalf("export:\n%s", out)
	}
	var second struct {
		Actor, Action, Addr, Target string
		Details                     map[string]string
	}
	if err := json.Unmarshal([]byte(lines[1]), &second); err != nil {
		t.Fatal(err)
	}
	if second.Action != "user.change" || second.Target != "bob" || second.Details["op"] != "disable" ||
		!strings.HasPrefix(second.Actor, "cli") || second.Addr != "local" {
		t.Fatalf("second entry: %+v", second)
	}
	if out := e.must(t, "", "hub", "audit", "export", "--action", "user.create", "-n", "1", "--data-dir", data); strings.Count(out, "\n") != 1 ||
		!strings.Contains(out, `"target":"bob"`) {
		t.Fatalf("export of the newest user.create:\n%s", out)
	}
}
