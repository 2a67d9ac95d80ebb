// Package deadline keeps slow clients from holding the hub's connections
// open, without a fixed timeout that would kill an honest 1 GiB push on a
// slow link. A request body must keep coming: it may never pause for
// longer than Stall, and after the first Stall it must average at least
// MinRate bytes a second. A response gets Stall to be written, plus the
// time its size takes at MinRate. The deadlines are the connection's own
// (http.ResponseController), so a client that stops reading or sending
// is cut off by the kernel's clock, not by a goroutine of ours.
package deadline

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

// Policy is how slow a client may be.
type Policy struct {
	Stall   time.Duration // the longest pause in a body, or in reading a response
	MinRate int64         // bytes a second a body must average once it had Stall
}

// DefaultPolicy lets through anyone faster than a 128 kbit/s link.
var DefaultPolicy = Policy{Stall: time.Minute, MinRate: 16 << 10}

type policyKey struct{}

// Handler applies p to every request next serves.
func Handler(p Policy, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		start := time.Now()
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &body{ReadCloser: r.Body, rc: rc, p: p, start: start}
		}
		rc.SetReadDeadline(start.Add(p.Stall)) // a body that has not started
		rc.SetWriteDeadline(time.Time{})
		ctx := context.WithValue(r.Context(), policyKey{}, p)
		next.ServeHTTP(&writer{ResponseWriter: w, rc: rc, p: p}, r.WithContext(ctx))
	})
}

// body moves the read deadline along as the client sends.
type body struct {
	io.ReadCloser
	rc    *http.ResponseController
	p     Policy
	start time.Time
	n     int64
}

func (b *body) Read(p []byte) (int, error) {
	now := time.Now()
	due := now.Add(b.p.Stall)
	if b.p.MinRate > 0 {
		if byRate := b.start.Add(b.p.Stall + bytesTime(b.n, b.p.MinRate)); byRate.Before(due) {
			due = byRate
		}
	}
	b.rc.SetReadDeadline(due)
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	if err != nil && IsTimeout(err) {
		err = ErrTooSlow
	}
	return n, err
}

// ErrTooSlow is a request body that stalled or came slower than the policy allows.
var ErrTooSlow = errors.New("the request body came too slowly: it paused too long or averaged too few bytes a second")

// IsTimeout reports whether err is a connection deadline passing.
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) || errors.Is(err, ErrTooSlow)
}

// writer starts the write deadline when the response starts, so that a
// long upload does not eat the time its answer is given.
type writer struct {
	http.ResponseWriter
	rc      *http.ResponseController
	p       Policy
	started bool
}

func (w *writer) start() {
	if !w.started {
		w.started = true
		w.rc.SetWriteDeadline(time.Now().Add(w.p.Stall))
	}
}

func (w *writer) WriteHeader(code int) {
	w.start()
	w.ResponseWriter.WriteHeader(code)
}

func (w *writer) Write(b []byte) (int, error) {
	w.start()
	return w.ResponseWriter.Write(b)
}

// ReadFrom keeps sendfile for blobs copied from files.
func (w *writer) ReadFrom(r io.Reader) (int64, error) {
	w.start()
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(w.ResponseWriter, r)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Extend gives the response of r n more bytes' worth of time to be
// written, from now: for a blob, which may be large.
func Extend(w http.ResponseWriter, r *http.Request, n int64) {
	p, ok := r.Context().Value(policyKey{}).(Policy)
	if !ok || p.MinRate <= 0 {
		return
	}
	if dw, ok := w.(*writer); ok {
		dw.started = true
	}
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(p.Stall + bytesTime(n, p.MinRate)))
}

// bytesTime is how long n bytes take at rate bytes a second.
func bytesTime(n, rate int64) time.Duration {
	return time.Duration(float64(n) / float64(rate) * float64(time.Second))
}
