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
	out := e.must(t, "", "hub", "audit", "export", "--data-dir", data)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("export:\n%s", out)
	}
	var newest struct {
		Actor, Action, Addr, Target string
		Details                     map[string]string
	}
	if err := json.Unmarshal([]byte(lines[0]), &newest); err != nil {
		t.Fatal(err)
	}
	if newest.Action != "user.change" || newest.Target != "bob" || newest.Details["op"] != "disable" ||
		!strings.HasPrefix(newest.Actor, "cli") || newest.Addr != "local" {
		t.Fatalf("newest entry: %+v", newest)
	}
	if out := e.must(t, "", "hub", "audit", "export", "--action", "user.create", "-n", "1", "--data-dir", data); strings.Count(out, "\n") != 1 ||
		!strings.Contains(out, `"target":"bob"`) {
		t.Fatalf("export of the newest user.create:\n%s", out)
	}
}
