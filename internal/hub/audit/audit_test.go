package audit

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/strata-dev/strata/internal/hub/access"
	"github.com/strata-dev/strata/internal/hub/meta"
)

// failing is an audit log that cannot be written.
type failing struct{ meta.Audit }

func (failing) AddAudit(context.Context, meta.AuditEvent) (int64, error) {
	return 0, errors.New("database is gone")
}

// An entry that cannot be written is not lost silently: it is logged with
// what it says and counted as an error; listeners still hear of it.
func TestRecordFailure(t *testing.T) {
	var logged bytes.Buffer
	var results []error
	r := New(failing{}, slog.New(slog.NewTextHandler(&logged, nil)), func(err error) { results = append(results, err) })
	var heard []meta.AuditEvent
	r.Listen(func(_ context.Context, e meta.AuditEvent) { heard = append(heard, e) })
	ctx := access.WithSubject(access.WithClient(context.Background(), "192.0.2.7"), access.Subject{User: "ann"})
	r.Record(ctx, meta.AuditEvent{Action: meta.AuditPush, Target: "ann/app:v1"})
	if len(results) != 1 || results[0] == nil {
		t.Fatalf("write results: %v", results)
	}
	for _, want := range []string{"audit log write failed", "actor=ann", "action=push", "addr=192.0.2.7", "target=ann/app:v1"} {
		if !strings.Contains(logged.String(), want) {
			t.Errorf("log lacks %q: %s", want, logged.String())
		}
	}
	if len(heard) != 1 || heard[0].Actor != "ann" || heard[0].Addr != "192.0.2.7" || heard[0].Time.IsZero() {
		t.Errorf("listeners heard %+v", heard)
	}
	var nilRecorder *Recorder
	nilRecorder.Record(ctx, meta.AuditEvent{Action: meta.AuditPush}) // records nothing, does not panic
}
