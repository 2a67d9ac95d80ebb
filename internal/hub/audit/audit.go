// Package audit records who did what on the hub (package meta keeps the
// log), and tells those who listen (webhooks) about it. A Recorder is
// called right after an action commits; a write that fails is logged and
// counted, never dropped silently, and never undoes the action.
package audit

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"time"

	"github.com/strata-dev/strata/internal/hub/access"
	"github.com/strata-dev/strata/internal/hub/meta"
)

// Recorder writes audit entries. A nil Recorder records nothing (a hub
// without accounts).
type Recorder struct {
	store   meta.Audit
	log     *slog.Logger
	written func(error) // counts writes, by result
	now     func() time.Time
	// listeners hear of every entry recorded (webhooks); set before use.
	listeners []func(context.Context, meta.AuditEvent)
}

// New returns a recorder writing to store; written (may be nil) is told
// the result of every write, for the metrics.
func New(store meta.Audit, log *slog.Logger, written func(error)) *Recorder {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if written == nil {
		written = func(error) {}
	}
	return &Recorder{store: store, log: log, written: written, now: time.Now}
}

// Listen adds fn to what hears of each entry, after it is written. Call
// it before the recorder is used.
func (r *Recorder) Listen(fn func(context.Context, meta.AuditEvent)) {
	r.listeners = append(r.listeners, fn)
}

// Record writes e, filling in what it leaves empty from ctx: the time
// (now), the client's address, and the actor (the request's subject).
// It does not fail: an entry that cannot be written is logged, with all
// it says, and counted.
func (r *Recorder) Record(ctx context.Context, e meta.AuditEvent) {
	if r == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = r.now()
	}
	if e.Addr == "" {
		e.Addr = access.ClientFrom(ctx)
	}
	if e.Actor == "" {
		e.Actor = access.SubjectFrom(ctx).User
	}
	for k, v := range e.Details {
		if v == "" {
			delete(e.Details, k) // nothing to say
		}
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	id, err := r.store.AddAudit(wctx, e)
	r.written(err)
	if err != nil {
		r.log.Error("audit log write failed", "err", err, "actor", e.Actor, "action", e.Action,
			"addr", e.Addr, "target", e.Target, "details", e.Details, "time", e.Time)
	}
	e.ID = id
	for _, fn := range r.listeners {
		fn(ctx, e)
	}
}

// Line is an entry as the export writes it: one JSON object a line.
type Line struct {
	ID      int64             `json:"id"`
	Time    time.Time         `json:"time"`
	Actor   string            `json:"actor"`
	Action  string            `json:"action"`
	Addr    string            `json:"addr"`
	Target  string            `json:"target"`
	Details map[string]string `json:"details,omitempty"`
}

// Export writes the entries q selects as JSON lines, newest first, all of
// them when q.N <= 0 (read in pages), and returns how many it wrote.
func Export(ctx context.Context, store meta.Audit, q meta.AuditQuery, w io.Writer) (int, error) {
	enc := json.NewEncoder(w)
	want, n := q.N, 0
	for {
		q.N = 500
		if want > 0 && want-n < q.N {
			q.N = want - n
		}
		page, err := store.AuditLog(ctx, q)
		if err != nil {
			return n, err
		}
		for _, e := range page {
			if err := enc.Encode(Line(e)); err != nil {
				return n, err
			}
			n++
		}
		if len(page) < q.N || (want > 0 && n >= want) {
			return n, nil
		}
		q.Before = page[len(page)-1].ID
	}
}
