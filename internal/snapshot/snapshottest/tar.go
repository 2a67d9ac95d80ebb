package snapshottest

import (
	"archive/tar"
	"io"
)

// tarWriter writes small layer tars for the suite.
type tarWriter struct{ tw *tar.Writer }

func newTar(w io.Writer) *tarWriter { return &tarWriter{tw: tar.NewWriter(w)} }

func (t *tarWriter) file(name, body string) {
	t.tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))})
	io.WriteString(t.tw, body)
}

// entry writes a header (and body, for a regular file).
func (t *tarWriter) entry(hdr tar.Header, body string) {
	if hdr.Typeflag == tar.TypeReg {
		hdr.Size = int64(len(body))
	}
	t.tw.WriteHeader(&hdr)
	io.WriteString(t.tw, body)
}

func (t *tarWriter) close() { t.tw.Close() }
