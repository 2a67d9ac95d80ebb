package hub_test

import (
	"bufio"
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/strata-dev/strata/internal/hub"
	"github.com/strata-dev/strata/internal/hub/audit"
	"github.com/strata-dev/strata/internal/hub/meta"
	"github.com/strata-dev/strata/internal/testutil"
)

// auditLines reads an export as its lines.
func auditLines(t *testing.T, body string) []audit.Line {
	t.Helper()
	var out []audit.Line
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		var l audit.Line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("export line %q: %v", sc.Text(), err)
		}
		out = append(out, l)
	}
	return out
}

// findLine is the newest line of action on target, nil when none.
func findLine(lines []audit.Line, action, target string) *audit.Line {
	for i := range lines {
		if lines[i].Action == action && lines[i].Target == target {
			return &lines[i]
		}
	}
	return nil
}

// What users do through the registry API and the website lands in the
// audit log with who did it and from where; administrators read it on the
// web, filtered and in pages, and export it as JSON lines.
func TestAuditLog(t *testing.T) {
	testutil.ForEachEngine(t, hub.Config{}, testAuditLog)
}

func testAuditLog(t *testing.T, cfg hub.Config) {
	h, _, _ := accountsHub(t, cfg) // alice pushed alice/pub:v1 and alice/priv:v1 (made private)
	alice, ops := newWebClient(t, h), newWebClient(t, h)

	alice.get("/signin")
	if r := alice.post("/signin", url.Values{"name": {"alice"}, "password": {"wrong-password"}}); r.Status != 401 {
		t.Fatalf("wrong password: %d", r.Status)
	}
	alice.signIn("alice", "alice-pass-1")
	if r := alice.post("/settings/tokens", url.Values{"name": {"ci"}, "scope": {"read-write-delete"}, "days": {"0"}}); r.Status != 200 {
		t.Fatalf("token: %d", r.Status)
	}
	toks, _ := h.Deps.Meta.Credentials(t.Context(), "alice", meta.KindToken)
	if len(toks) != 1 {
		t.Fatalf("tokens: %+v", toks)
	}
	alice.get("/settings")
	if r := alice.post("/settings/tokens/revoke", url.Values{"id": {itoa(toks[0].ID)}}); r.Status != 303 {
		t.Fatalf("revoke: %d", r.Status)
	}
	alice.get("/r/alice/pub")
	if r := alice.post("/r/alice/pub/-/visibility", url.Values{"visibility": {"private"}}); r.Status != 303 {
		t.Fatalf("visibility: %d %s", r.Status, r.Body)
	}
	if r := alice.post("/r/alice/pub/-/collaborators", url.Values{"user": {"bob"}, "role": {"write"}}); r.Status != 303 {
		t.Fatalf("collaborator: %d", r.Status)
	}
	if r := alice.post("/r/alice/pub/-/tags/delete", url.Values{"tag": {"v1"}}); r.Status != 303 {
		t.Fatalf("tag delete: %d", r.Status)
	}
	tr, r := getToken(t, h, "alice", "alice-pass-1", "repository:alice/priv:delete")
	if r.Status != 200 {
		t.Fatalf("token: %d", r.Status)
	}
	if r := call(t, "DELETE", h.URL()+"/v2/alice/priv/manifests/v1", tr.Token, nil); r.Status != 202 {
		t.Fatalf("API tag delete: %d %s", r.Status, r.Body)
	}
	ops.signIn("ops", "ops-pass-12")
	if r := ops.post("/admin/users", url.Values{"name": {"bob"}, "op": {"disable"}}); r.Status != 303 {
		t.Fatalf("disable bob: %d", r.Status)
	}

	exp := ops.get("/admin/audit/export")
	if exp.Status != 200 || !strings.HasPrefix(exp.Header.Get("Content-Type"), "application/x-ndjson") {
		t.Fatalf("export: %d %s", exp.Status, exp.Header)
	}
	lines := auditLines(t, exp.Body)
	for _, want := range []struct{ action, target, actor, detail string }{
		{meta.AuditSignIn, "alice", "alice", "via=token"}, // the pushes' token requests
		{meta.AuditPush, "alice/pub:v1", "alice", "repository=alice/pub"},
		{meta.AuditPush, "alice/priv:v1", "alice", ""},
		{meta.AuditSignInFailed, "alice", "alice", "with=password"},
		{meta.AuditTokenCreate, "alice", "alice", "name=ci"},
		{meta.AuditTokenRevoke, "alice", "alice", "id=" + itoa(toks[0].ID)},
		{meta.AuditVisibility, "alice/pub", "alice", "visibility=private"},
		{meta.AuditCollaborator, "alice/pub", "alice", "user=bob"},
		{meta.AuditTagDelete, "alice/pub:v1", "alice", "tag=v1"},
		{meta.AuditTagDelete, "alice/priv:v1", "alice", "repository=alice/priv"},
		{meta.AuditSignIn, "ops", "ops", "via=web"},
		{meta.AuditUserChange, "bob", "ops", "op=disable"},
	} {
		l := findLine(lines, want.action, want.target)
		if l == nil {
			t.Errorf("no %s of %s in the export:\n%s", want.action, want.target, exp.Body)
			continue
		}
		if l.Actor != want.actor || l.Addr != "127.0.0.1" || l.Time.IsZero() {
			t.Errorf("%s of %s: by %q from %q at %v, want %s from 127.0.0.1", want.action, want.target, l.Actor, l.Addr, l.Time, want.actor)
		}
		if k, v, ok := strings.Cut(want.detail, "="); ok && l.Details[k] != v {
			t.Errorf("%s of %s: details %v, want %s", want.action, want.target, l.Details, want.detail)
		}
	}
	for i := 1; i < len(lines); i++ {
		if lines[i].ID >= lines[i-1].ID {
			t.Fatalf("export not newest first: %+v", lines)
		}
	}

	// Filters, on the page and the export.
	pushes := auditLines(t, ops.get("/admin/audit/export?action=push").Body)
	if len(pushes) != 2 {
		t.Errorf("export of pushes: %+v", pushes)
	}
	for _, l := range auditLines(t, ops.get("/admin/audit/export?user=ops").Body) {
		if l.Actor != "ops" {
			t.Errorf("export of ops's: %+v", l)
		}
	}
	page := ops.get("/admin/audit?user=alice&action=tag.delete")
	if page.Status != 200 || !strings.Contains(page.Body, "alice/priv:v1") || !strings.Contains(page.Body, "alice/pub:v1") ||
		strings.Contains(page.Body, "<code>push</code>") {
		t.Errorf("filtered page: %d\n%s", page.Status, page.Body)
	}
	// Pages: two at a time, then the older ones.
	first := ops.get("/admin/audit?n=2")
	next := regexp.MustCompile(`href="(/admin/audit\?before=\d+&amp;n=2)"`).FindStringSubmatch(first.Body)
	if next == nil {
		t.Fatalf("no link to older entries:\n%s", first.Body)
	}
	older := ops.get(strings.ReplaceAll(next[1], "&amp;", "&"))
	if older.Status != 200 || older.Body == first.Body || strings.Count(older.Body, "<tr><td title=") != 2 {
		t.Errorf("older page: %d\n%s", older.Status, older.Body)
	}

	m := call(t, "GET", h.URL()+"/metrics", "", nil)
	if !strings.Contains(m.Body, `strata_hub_audit_writes_total{result="ok"}`) {
		t.Errorf("audit writes not counted in /metrics")
	}
}
