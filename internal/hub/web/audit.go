package web

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/strata-dev/strata/internal/hub/audit"
	"github.com/strata-dev/strata/internal/hub/meta"
)

// record writes an audit entry for what the visitor just did.
func (s *site) record(r *http.Request, action, target string, details map[string]string) {
	s.Audit.Record(r.Context(), meta.AuditEvent{Action: action, Actor: visitorOf(r.Context()).id.User.Name,
		Target: target, Details: details})
}

// auditPageSize is how many entries the audit page shows at once.
const auditPageSize = 50

// auditData is the audit log page.
type auditData struct {
	Entries       []meta.AuditEvent
	Actor, Action string
	Next          string // the next page's URL, "" at the end
	Export        string // the export's URL with the same filters
}

// auditQuery is the filters and page a request asks for.
func auditQuery(r *http.Request, n int) meta.AuditQuery {
	q := r.URL.Query()
	before, _ := strconv.ParseInt(q.Get("before"), 10, 64)
	if asked, err := strconv.Atoi(q.Get("n")); err == nil && asked > 0 {
		n = asked
	}
	return meta.AuditQuery{Actor: q.Get("user"), Action: q.Get("action"), Before: before, N: n}
}

// auditFilters is q's filters as URL parameters.
func auditFilters(q meta.AuditQuery) url.Values {
	v := url.Values{}
	if q.Actor != "" {
		v.Set("user", q.Actor)
	}
	if q.Action != "" {
		v.Set("action", q.Action)
	}
	return v
}

// auditPage shows the audit log, newest first, a page at a time.
func (s *site) auditPage(w http.ResponseWriter, r *http.Request) {
	q := auditQuery(r, auditPageSize)
	if q.N > 500 {
		q.N = 500
	}
	entries, err := s.Meta.AuditLog(r.Context(), q)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	d := auditData{Entries: entries, Actor: q.Actor, Action: q.Action}
	v := auditFilters(q)
	d.Export = "/admin/audit/export?" + v.Encode()
	if len(entries) == q.N {
		if q.N != auditPageSize {
			v.Set("n", strconv.Itoa(q.N))
		}
		v.Set("before", strconv.FormatInt(entries[len(entries)-1].ID, 10))
		d.Next = "/admin/audit?" + v.Encode()
	}
	s.render(w, r, http.StatusOK, "audit", "Audit log", d, "")
}

// auditExport sends the audit log as JSON lines, newest first: all of it,
// or what user, action, before and n select.
func (s *site) auditExport(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Content-Disposition", `attachment; filename="strata-audit.jsonl"`)
	if _, err := audit.Export(r.Context(), s.Meta, auditQuery(r, 0), w); err != nil {
		s.Log.Warn("audit export cut short", "err", err)
	}
}
