package metatest

import (
	"context"
	"testing"
	"time"

	"github.com/strata-dev/strata/internal/hub/meta"
)

// testAudit: entries come back newest first, with what was written, paged
// by id and filtered by actor and action.
func testAudit(t *testing.T, s meta.Store) {
	ctx := context.Background()
	if got, err := s.AuditLog(ctx, meta.AuditQuery{}); err != nil || len(got) != 0 {
		t.Fatalf("empty log: %v, %v", got, err)
	}
	var ids []int64
	for i, e := range []meta.AuditEvent{
		{Actor: "ann", Action: meta.AuditSignIn, Addr: "192.0.2.1", Target: "ann", Details: map[string]string{"via": "web"}},
		{Actor: "bob", Action: meta.AuditSignInFailed, Addr: "2001:db8::1", Target: "bob"},
		{Actor: "ann", Action: meta.AuditPush, Addr: "192.0.2.1", Target: "ann/app:v1", Details: map[string]string{"digest": "sha256:aa"}},
		{Actor: "ann", Action: meta.AuditTagDelete, Addr: "192.0.2.1", Target: "ann/app:v1"},
	} {
		e.Time = t0.Add(time.Duration(i) * time.Second)
		id, err := s.AddAudit(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) > 0 && id <= ids[len(ids)-1] {
			t.Fatalf("id %d after %d", id, ids[len(ids)-1])
		}
		ids = append(ids, id)
	}
	all, err := s.AuditLog(ctx, meta.AuditQuery{})
	if err != nil || len(all) != 4 {
		t.Fatalf("all: %v, %v", all, err)
	}
	if all[0].ID != ids[3] || all[3].ID != ids[0] {
		t.Fatalf("not newest first: %+v", all)
	}
	last := all[1]
	if last.Actor != "ann" || last.Action != meta.AuditPush || last.Addr != "192.0.2.1" || last.Target != "ann/app:v1" ||
		!last.Time.Equal(t0.Add(2*time.Second)) || last.Details["digest"] != "sha256:aa" || len(last.Details) != 1 {
		t.Fatalf("entry read back as %+v", last)
	}
	if all[2].Details != nil || all[2].Addr != "2001:db8::1" {
		t.Fatalf("entry without details read back as %+v", all[2])
	}
	page, err := s.AuditLog(ctx, meta.AuditQuery{Before: all[1].ID, N: 1})
	if err != nil || len(page) != 1 || page[0].ID != ids[1] {
		t.Fatalf("page before %d: %+v, %v", all[1].ID, page, err)
	}
	anns, err := s.AuditLog(ctx, meta.AuditQuery{Actor: "ann"})
	if err != nil || len(anns) != 3 {
		t.Fatalf("ann's: %+v, %v", anns, err)
	}
	pushes, err := s.AuditLog(ctx, meta.AuditQuery{Actor: "ann", Action: meta.AuditPush})
	if err != nil || len(pushes) != 1 || pushes[0].ID != ids[2] {
		t.Fatalf("ann's pushes: %+v, %v", pushes, err)
	}
	if none, err := s.AuditLog(ctx, meta.AuditQuery{Actor: "carol"}); err != nil || len(none) != 0 {
		t.Fatalf("carol's: %+v, %v", none, err)
	}
}
