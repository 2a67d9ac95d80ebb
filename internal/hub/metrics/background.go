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
