package metrics

import (
	"io"
	"net/http"
	"strconv"
	"time"
)

// Uploads are the routes whose requests count as uploads in flight.
var Uploads = map[string]bool{"upload": true, "upload-start": true}

// Middleware counts every request next serves under the route that
// routeOf names (a fixed, small set of names).
func (m *Metrics) Middleware(routeOf func(*http.Request) string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route, start := routeOf(r), time.Now()
		inFlight := m.inFlight.WithLabelValues(route)
		inFlight.Inc()
		defer inFlight.Dec()
		if Uploads[route] {
			m.uploadsInFlight.Inc()
			defer m.uploadsInFlight.Dec()
		}
		body := &countingBody{ReadCloser: r.Body}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = body
		}
		cw := &countingWriter{ResponseWriter: w}
		defer func() {
			code := cw.code
			if code == 0 {
				code = http.StatusOK // nothing written: net/http answers 200
			}
			m.requests.WithLabelValues(route, r.Method, strconv.Itoa(code)).Inc()
			m.latency.WithLabelValues(route, r.Method).Observe(time.Since(start).Seconds())
			m.bytesIn.WithLabelValues(route).Add(float64(body.n))
			m.bytesOut.WithLabelValues(route).Add(float64(cw.n))
		}()
		next.ServeHTTP(cw, r)
	})
}

type countingBody struct {
	io.ReadCloser
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}

// countingWriter counts what is written, keeping sendfile (ReadFrom) and
// http.ResponseController (Unwrap) working through it.
type countingWriter struct {
	http.ResponseWriter
	code int
	n    int64
}

func (w *countingWriter) WriteHeader(code int) {
	if w.code == 0 && code >= 200 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

func (w *countingWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	var n int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(w.ResponseWriter, r)
	}
	w.n += n
	return n, err
}

func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
