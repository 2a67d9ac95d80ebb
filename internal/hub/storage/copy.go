package storage

import (
	"hash"
	"io"
	"sync"
)

// bufPool holds the buffers request bodies are copied through: 1 MiB
// buffers mean few, large writes to disk and to the hash.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// copyChunks copies r to w, and into h when it is not nil. A chunk goes to
// the hash only once the write took it, so hash and data stay in step even
// when one fails. At most limit bytes are written (limit < 0: no limit):
// a reader with more is a *TooLargeError once limit bytes are in.
func copyChunks(w io.Writer, r io.Reader, h hash.Hash, limit int64) (int64, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var total int64
	for {
		n, rerr := fill(r, buf)
		if limit >= 0 && total+int64(n) > limit {
			n = int(limit - total)
			rerr = &TooLargeError{Limit: limit}
		}
		if n > 0 {
			wn, werr := w.Write(buf[:n])
			if h != nil {
				h.Write(buf[:wn])
			}
			total += int64(wn)
			if werr != nil {
				return total, werr
			}
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// fill reads into buf until it is full or r fails; unlike io.ReadFull it
// passes a broken body's io.ErrUnexpectedEOF through as the error it is.
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
