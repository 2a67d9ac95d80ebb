// Package metrics is what a hub node tells Prometheus at /metrics, with
// prometheus/client_golang: the requests it serves (by route, method and
// status, their latency, the bytes in and out, how many are in flight and
// how many of those are uploads), its background work (collections, the
// bytes they freed), and how its engines answer (object store operations
// and database queries, and their errors). Every series is per node;
// Prometheus sums them over a hub's nodes.
//
// Labels are few and fixed: a route is an endpoint kind (blob, manifest,
// upload, token, web, ...), never a repository name or a digest.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are one node's collectors, in a registry of their own.
type Metrics struct {
	reg *prometheus.Registry

	requests        *prometheus.CounterVec   // route, method, code
	latency         *prometheus.HistogramVec // route, method
	bytesIn         *prometheus.CounterVec   // route
	bytesOut        *prometheus.CounterVec   // route
	inFlight        *prometheus.GaugeVec     // route
	uploadsInFlight prometheus.Gauge

	gcRuns  *prometheus.CounterVec // result
	gcFreed prometheus.Counter
	gcLast  prometheus.Gauge

	retentionRuns    *prometheus.CounterVec // result
	retentionDeleted *prometheus.CounterVec // kind (tag, manifest)

	storeOps *prometheus.CounterVec // op, result
	dbCalls  *prometheus.CounterVec // result

	auditWrites *prometheus.CounterVec // result
}

const namespace = "strata_hub"

// New returns a node's metrics, with Go's runtime and the process's own.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "http_requests_total",
		Help: "HTTP requests served, by route, method and status code."}, []string{"route", "method", "code"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "http_request_duration_seconds",
		Help:    "Time from a request's arrival to the end of its answer, by route and method.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}}, []string{"route", "method"})
	m.bytesIn = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "http_request_bytes_total",
		Help: "Bytes of request bodies read, by route."}, []string{"route"})
	m.bytesOut = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "http_response_bytes_total",
		Help: "Bytes of response bodies written, by route."}, []string{"route"})
	m.inFlight = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "http_requests_in_flight",
		Help: "Requests being served now, by route."}, []string{"route"})
	m.uploadsInFlight = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "uploads_in_flight",
		Help: "Upload requests (POST, PATCH, PUT of blob uploads) being served now."})
	m.gcRuns = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "gc_runs_total",
		Help: "Garbage collections this node ran, by result (ok, error)."}, []string{"result"})
	m.gcFreed = prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "gc_freed_bytes_total",
		Help: "Bytes of blobs, uploads and orphaned content the collections of this node freed."})
	m.gcLast = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "gc_last_run_timestamp_seconds",
		Help: "When this node's last garbage collection ended (unix time)."})
	m.retentionRuns = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "retention_runs_total",
		Help: "Retention runs of the tag policies this node made, by result (ok, error)."}, []string{"result"})
	m.retentionDeleted = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "retention_deleted_total",
		Help: "Tags and manifests this node's retention runs deleted, by kind (tag, manifest)."}, []string{"kind"})
	m.storeOps = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "store_operations_total",
		Help: "Object store operations, by operation and result (ok, not_found, error)."}, []string{"op", "result"})
	m.dbCalls = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "db_queries_total",
		Help: "Database statements and connection attempts, by result (ok, serialization: retried, error)."}, []string{"result"})
	m.auditWrites = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "audit_writes_total",
		Help: "Audit log entries written, by result (ok, error: the entry is in the log output only)."}, []string{"result"})
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.bytesIn, m.bytesOut, m.inFlight, m.uploadsInFlight,
		m.gcRuns, m.gcFreed, m.gcLast, m.retentionRuns, m.retentionDeleted, m.storeOps, m.dbCalls, m.auditWrites} {
		f(c)
	}
	return m
}

// Handler serves the metrics in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Registry is where the collectors are (tests read them).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// AuditWrite counts an audit log write (audit.New's written).
func (m *Metrics) AuditWrite(err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.auditWrites.WithLabelValues(result).Inc()
}
