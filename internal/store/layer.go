package store

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-dev/strata/internal/archive"
	"github.com/strata-dev/strata/internal/content"
	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/image"
)

// tarVerifier takes a layer's uncompressed tar as it streams past, and
// computes its diffID and sizes while archive.Check judges its entries.
type tarVerifier struct {
	diff    digest.Digester
	n       int64
	checkW  *io.PipeWriter
	statsW  *io.PipeWriter
	checked chan error
	sized   chan sizeResult
}

type sizeResult struct {
	size int64
	err  error
}

func newTarVerifier() *tarVerifier {
	v := &tarVerifier{diff: digest.Canonical.Digester(), checked: make(chan error, 1), sized: make(chan sizeResult, 1)}
	var checkR, statsR *io.PipeReader
	checkR, v.checkW = io.Pipe()
	statsR, v.statsW = io.Pipe()
	go func() {
		err := archive.Check(checkR)
		io.Copy(io.Discard, checkR) // keep the writer flowing after an early verdict
		checkR.CloseWithError(err)
		v.checked <- err
	}()
	go func() {
		n, err := unpackedSize(statsR)
		io.Copy(io.Discard, statsR)
		v.sized <- sizeResult{n, err}
	}()
	return v
}

func (v *tarVerifier) Write(p []byte) (int, error) {
	v.diff.Hash().Write(p)
	v.n += int64(len(p))
	if _, err := v.checkW.Write(p); err != nil {
		return 0, err
	}
	if _, err := v.statsW.Write(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// finish ends the stream (with cause, if it broke) and returns the verdict.
func (v *tarVerifier) finish(cause error) (diffID digest.Digest, tarSize, size int64, err error) {
	v.checkW.CloseWithError(cause)
	v.statsW.CloseWithError(cause)
	cerr := <-v.checked
	sr := <-v.sized
	switch {
	case cerr != nil:
		return "", 0, 0, cerr
	case cause != nil:
		return "", 0, 0, cause
	case sr.err != nil:
		return "", 0, 0, sr.err
	}
	return v.diff.Digest(), v.n, sr.size, nil
}

// unpackedSize is the size Docker reports for a layer once unpacked: the
// bytes of its regular files and symlinks (their target's length), each path
// counted once, hard links and directories not at all.
func unpackedSize(r io.Reader) (int64, error) {
	tr := tar.NewReader(r)
	sizes := map[string]int64{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("layer tar: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		name, err := archive.CleanName(hdr.Name)
		if err != nil {
			return 0, err
		}
		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeRegA:
			sizes[name] = hdr.Size
		case tar.TypeSymlink:
			sizes[name] = int64(len(hdr.Linkname))
		default:
			delete(sizes, name)
		}
	}
	var total int64
	for _, n := range sizes {
		total += n
	}
	return total, nil
}

func newRef(prefix string) string {
	b := make([]byte, 12)
	rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// AddLayerTar stores an uncompressed layer tar as a gzip blob (compressed
// once, so that pushing it later is reproducible), checking its entries and
// computing its diffID, compressed digest and sizes in one pass. When
// wantDiffID is set, a tar with another diffID is refused and nothing is
// stored. Call it while holding Writing.
func (s *Store) AddLayerTar(ctx context.Context, r io.Reader, wantDiffID digest.Digest) (Layer, error) {
	w, err := s.WriteLayerTar(ctx, r, wantDiffID)
	if err != nil {
		return Layer{}, err
	}
	return w.Layer, w.Commit(ctx)
}

// A WrittenLayer is a layer tar written as a gzip blob, its facts known
// (Layer), the blob not yet made durable and published: Commit does that,
// Abort throws it away. Until then a manifest can be written that lists
// it, while the disk syncs it.
type WrittenLayer struct {
	Layer
	s   *Store
	ref string
	w   content.Writer
}

// WriteLayerTar is AddLayerTar up to the commit of the blob: the tar
// read, checked, gzipped and digested, the blob written but not synced.
// Call Commit or Abort, while holding Writing.
func (s *Store) WriteLayerTar(ctx context.Context, r io.Reader, wantDiffID digest.Digest) (*WrittenLayer, error) {
	ref := newRef("layer")
	w, err := s.content.Writer(ctx, ref, ocispec.Descriptor{})
	if err != nil {
		return nil, err
	}
	gz, err := gzip.NewWriterLevel(w, gzip.DefaultCompression)
	if err != nil {
		w.Close()
		return nil, err
	}
	v := newTarVerifier()
	_, cerr := io.Copy(io.MultiWriter(v, gz), r)
	if cerr == nil {
		cerr = gz.Close()
	}
	diffID, tarSize, size, err := v.finish(cerr)
	if err == nil && wantDiffID != "" && diffID != wantDiffID {
		err = fmt.Errorf("layer has diffID %s, but the image config says %s: %w", diffID, wantDiffID, errdefs.ErrInvalidArgument)
	}
	var st content.Status
	if err == nil {
		st, err = w.Status()
	}
	wl := &WrittenLayer{s: s, ref: ref, w: w}
	if err != nil {
		wl.Abort(ctx)
		return nil, err
	}
	blob := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: w.Digest(), Size: st.Offset}
	wl.Layer = Layer{Blob: blob, DiffID: diffID, TarSize: tarSize, Size: size}
	return wl, nil
}

// Commit makes the blob durable and publishes it (one that is stored
// already is kept).
func (l *WrittenLayer) Commit(ctx context.Context) error {
	defer l.w.Close()
	if err := l.w.Commit(ctx, l.Blob.Size, l.Blob.Digest); err != nil && !errors.Is(err, errdefs.ErrAlreadyExists) {
		return err
	}
	return nil
}

// Abort throws the written blob away.
func (l *WrittenLayer) Abort(ctx context.Context) {
	l.w.Close()
	l.s.content.Abort(ctx, l.ref)
}

// AddLayerBlob stores a layer blob as it is (gzip, zstd or uncompressed, as
// desc.MediaType says), verifying its digest and size against desc and its
// uncompressed tar against wantDiffID (when set) while it streams. Call it
// while holding Writing.
func (s *Store) AddLayerBlob(ctx context.Context, r io.Reader, desc ocispec.Descriptor, wantDiffID digest.Digest) (Layer, error) {
	ref := newRef("blob")
	w, err := s.content.Writer(ctx, ref, desc)
	if errors.Is(err, errdefs.ErrAlreadyExists) {
		return s.knownLayer(ctx, desc, wantDiffID, r)
	}
	if err != nil {
		return Layer{}, err
	}
	defer w.Close()
	pr, pw := io.Pipe()
	v := newTarVerifier()
	decoded := make(chan error, 1)
	go func() {
		err := decompress(image.LayerCompression(desc.MediaType), pr, v)
		io.Copy(io.Discard, pr)
		decoded <- err
	}()
	_, cerr := io.Copy(io.MultiWriter(w, pw), r)
	pw.CloseWithError(cerr)
	derr := <-decoded
	if cerr == nil {
		cerr = derr
	}
	diffID, tarSize, size, err := v.finish(cerr)
	if err == nil && wantDiffID != "" && diffID != wantDiffID {
		err = fmt.Errorf("layer has diffID %s, but the image config says %s: %w", diffID, wantDiffID, errdefs.ErrInvalidArgument)
	}
	st, _ := w.Status()
	if err == nil {
		err = w.Commit(ctx, desc.Size, desc.Digest)
	}
	if err != nil && !errors.Is(err, errdefs.ErrAlreadyExists) {
		w.Close()
		s.content.Abort(ctx, ref)
		return Layer{}, fmt.Errorf("layer %s: %w", desc.Digest, err)
	}
	desc.Digest, desc.Size = w.Digest(), st.Offset
	return Layer{Blob: desc, DiffID: diffID, TarSize: tarSize, Size: size}, nil
}

// knownLayer is a layer blob that is stored already: its facts come from the
// database, and r is not read.
func (s *Store) knownLayer(ctx context.Context, desc ocispec.Descriptor, wantDiffID digest.Digest, r io.Reader) (Layer, error) {
	var l Layer
	err := s.db.QueryRowContext(ctx, `SELECT b.diff_id, l.tar_size, l.unpacked_size FROM layer_blobs b
		JOIN layers l ON l.diff_id = b.diff_id WHERE b.blob = ?`, desc.Digest).Scan(&l.DiffID, &l.TarSize, &l.Size)
	if err != nil {
		// Stored, but not as a layer we know: verify it from the stored copy.
		ra, rerr := s.content.ReaderAt(ctx, desc)
		if rerr != nil {
			return Layer{}, rerr
		}
		defer ra.Close()
		v := newTarVerifier()
		derr := decompress(image.LayerCompression(desc.MediaType), content.NewReader(ra), v)
		if l.DiffID, l.TarSize, l.Size, err = v.finish(derr); err != nil {
			return Layer{}, fmt.Errorf("layer %s: %w", desc.Digest, err)
		}
	}
	if wantDiffID != "" && l.DiffID != wantDiffID {
		return Layer{}, fmt.Errorf("layer %s has diffID %s, but the image config says %s: %w", desc.Digest, l.DiffID, wantDiffID, errdefs.ErrInvalidArgument)
	}
	l.Blob = desc
	return l, nil
}

// LayerCheck judges an uncompressed layer tar written to it as AddLayerBlob
// judges the tar of a blob it stores (its entries, its diffID, its sizes),
// for a caller that reads the tar anyway (to unpack it) and need not read it
// twice. Layer must be called to end it.
type LayerCheck struct {
	v    *tarVerifier
	blob ocispec.Descriptor
	want digest.Digest
}

// CheckLayer starts checking the tar of the stored layer blob, against
// wantDiffID when it is set.
func CheckLayer(blob ocispec.Descriptor, wantDiffID digest.Digest) *LayerCheck {
	return &LayerCheck{v: newTarVerifier(), blob: blob, want: wantDiffID}
}

func (c *LayerCheck) Write(p []byte) (int, error) { return c.v.Write(p) }

// Layer ends the check (with cause when the tar could not be read to its
// end) and returns the layer, as AddLayerBlob would, or why it is refused.
func (c *LayerCheck) Layer(cause error) (Layer, error) {
	diffID, tarSize, size, err := c.v.finish(cause)
	if err == nil && c.want != "" && diffID != c.want {
		err = fmt.Errorf("layer has diffID %s, but the image config says %s: %w", diffID, c.want, errdefs.ErrInvalidArgument)
	}
	if err != nil {
		return Layer{}, fmt.Errorf("layer %s: %w", c.blob.Digest, err)
	}
	return Layer{Blob: c.blob, DiffID: diffID, TarSize: tarSize, Size: size}, nil
}

// decompress writes the uncompressed content of r to w.
func decompress(c image.Compression, r io.Reader, w io.Writer) error {
	switch c {
	case image.Gzip:
		zr, err := gzip.NewReader(r)
		if err != nil {
			return fmt.Errorf("layer is not gzip: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		defer zr.Close()
		if _, err := io.Copy(w, zr); err != nil {
			return fmt.Errorf("gunzip layer: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		return nil
	case image.Zstd:
		zr, err := zstd.NewReader(r)
		if err != nil {
			return err
		}
		defer zr.Close()
		if _, err := io.Copy(w, zr); err != nil {
			return fmt.Errorf("unzstd layer: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		return nil
	}
	_, err := io.Copy(w, r)
	return err
}

// Uncompressed reads r as it is, or gunzipped or unzstded when its first
// bytes say it is compressed.
func Uncompressed(r io.Reader) io.ReadCloser {
	br := bufio.NewReader(r)
	head, _ := br.Peek(4)
	c := image.DetectCompression(head)
	if c == image.Uncompressed {
		return io.NopCloser(br)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(decompress(c, br, pw)) }()
	return pr
}
