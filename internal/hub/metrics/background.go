package metrics

import (
	"time"

	"github.com/strata-dev/strata/internal/hub/storage"
)

// GCRun records a garbage collection this node ran (storage.Options.Collected).
func (m *Metrics) GCRun(r storage.GCReport, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.gcRuns.WithLabelValues(result).Inc()
	m.gcFreed.Add(float64(r.Bytes()))
	m.gcLast.Set(float64(time.Now().Unix()))
}

// RetentionRun records a retention run this node made, and what it deleted.
func (m *Metrics) RetentionRun(tags, manifests int, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.retentionRuns.WithLabelValues(result).Inc()
	m.retentionDeleted.WithLabelValues("tag").Add(float64(tags))
	m.retentionDeleted.WithLabelValues("manifest").Add(float64(manifests))
}
