package s3

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/storage"
)

// An upload's data is the parts of a multipart upload on data/<id>, then a
// tail: the bytes past the last part, shorter than a part. S3 cannot
// append, so a chunk fills the part being formed in memory while its
// request lasts; full parts go to the multipart upload, and what is left
// when the request ends goes to the record object (uploads/<id>/data) with
// the list of parts. A later chunk, on this node or another, starts from
// that record: small chunks are buffered in the store, not in any node.
//
// The record object is a JSON header line, then the previous tail (when
// kept), then the tail.
type header struct {
	MPU   string `json:"mpu,omitempty"` // the multipart upload on data/<id>; "" none yet
	Parts []part `json:"parts,omitempty"`
	Tail  int64  `json:"tail"`
	// Prev is the record as it was before the last request that added
	// parts, kept so that a crash between writing this record and saving
	// the upload's state (which then names Prev's size) loses nothing.
	Prev *prevRecord `json:"prev,omitempty"`
	// Done: the content is complete at data/<id> (it was read back before
	// its commit), Size bytes; Parts and Tail are empty.
	Done bool  `json:"done,omitempty"`
	Size int64 `json:"size,omitempty"`
}

type part struct {
	N    int32  `json:"n"`
	ETag string `json:"etag"`
	Size int64  `json:"size"`
}

type prevRecord struct {
	Parts int   `json:"parts"` // how many of Parts it had
	Tail  int64 `json:"tail"`
}

type record struct {
	header
	prevTail []byte
	tail     []byte
}

func (r *record) partsSize() int64 {
	var n int64
	for _, p := range r.Parts {
		n += p.Size
	}
	return n
}

func (r *record) size() int64 {
	if r.Done {
		return r.Size
	}
	return r.partsSize() + int64(len(r.tail))
}

func (d *Driver) recordKey(id string) string { return d.key("uploads", id, "data") }
func (d *Driver) dataKey(id string) string   { return d.key("data", id) }

// loadRecord reads upload id's record.
func (d *Driver) loadRecord(ctx context.Context, id string) (*record, error) {
	b, err := d.get(ctx, d.recordKey(id))
	if err != nil {
		return nil, fmt.Errorf("upload %s: %w", id, err)
	}
	line, rest, ok := bytes.Cut(b, []byte("\n"))
	r := &record{}
	if !ok || json.Unmarshal(line, &r.header) != nil {
		return nil, fmt.Errorf("upload %s: its record is damaged: %w", id, errdefs.ErrConflict)
	}
	var prev int64
	if r.Prev != nil {
		prev = r.Prev.Tail
	}
	if int64(len(rest)) != prev+r.Tail {
		return nil, fmt.Errorf("upload %s: its record is damaged: %w", id, errdefs.ErrConflict)
	}
	r.prevTail, r.tail = rest[:prev], rest[prev:]
	return r, nil
}

// saveRecord writes upload id's record, with the data's size as metadata for Uploads.
func (d *Driver) saveRecord(ctx context.Context, id string, r *record) error {
	r.Tail = int64(len(r.tail))
	line, _ := json.Marshal(r.header)
	var b bytes.Buffer
	b.Grow(len(line) + 1 + len(r.prevTail) + len(r.tail))
	b.Write(line)
	b.WriteByte('\n')
	b.Write(r.prevTail)
	b.Write(r.tail)
	return d.put(ctx, d.recordKey(id), b.Bytes(), map[string]string{"size": strconv.FormatInt(r.size(), 10)})
}

// get reads a whole (small) object.
func (d *Driver) get(ctx context.Context, key string) ([]byte, error) {
	out, err := d.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &d.bucket, Key: &key})
	if err != nil {
		return nil, classify(err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	return b, classify(err)
}

// put writes a whole object.
func (d *Driver) put(ctx context.Context, key string, b []byte, meta map[string]string) error {
	_, err := d.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &d.bucket, Key: &key, Body: bytes.NewReader(b),
		ContentLength: aws.Int64(int64(len(b))), Metadata: meta}, unsignedPayload)
	return classify(err)
}

// unsignedPayload sends content without hashing it for the signature: the
// hub verifies every blob's digest itself, so a second SHA-256 of each part
// would only cost CPU.
func unsignedPayload(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
}

// Stage opens upload id's data for appending at offset.
func (d *Driver) Stage(ctx context.Context, id string, offset int64) (storage.Staged, error) {
	if err := storage.CheckUploadID(id); err != nil {
		return nil, err
	}
	s := &staged{d: d, id: id, ctx: ctx, rec: &record{}, dirty: offset == 0}
	if offset > 0 {
		rec, err := d.loadRecord(ctx, id)
		if err != nil {
			return nil, err
		}
		size, hadPrev := rec.size(), rec.Prev != nil
		if err := rec.cut(offset); err != nil {
			return nil, fmt.Errorf("upload %s: %w", id, err)
		}
		s.rec, s.dirty = rec, offset != size || hadPrev
	}
	s.initParts, s.initTail = len(s.rec.Parts), s.rec.tail
	s.buf = append(d.getBuf(), s.rec.tail...)
	if s.rec.Done && s.dirty { // completed content cut short: copy what stays
		if err := s.reopen(); err != nil {
			s.release()
			return nil, err
		}
	}
	return s, nil
}

// cut takes the record back to offset bytes, where that can be done
// without the bytes past it: within the tail, to the previous record, or
// within completed content. It also drops a kept previous record.
func (r *record) cut(offset int64) error {
	size := r.size()
	switch {
	case offset > size:
		return fmt.Errorf("it has %d bytes, not the %d its state records: %w", size, offset, errdefs.ErrConflict)
	case r.Done:
		if offset < size {
			r.Size = offset // reopen copies the first offset bytes
		}
	case offset >= r.partsSize():
		r.tail = r.tail[:offset-r.partsSize()]
	case r.Prev != nil && offset == r.partsSizeOf(r.Prev.Parts)+r.Prev.Tail:
		r.Parts, r.tail = r.Parts[:r.Prev.Parts], r.prevTail
	default:
		return fmt.Errorf("its data cannot be cut back to byte %d; start the upload again: %w", offset, errdefs.ErrConflict)
	}
	r.Prev, r.prevTail = nil, nil
	return nil
}

func (r *record) partsSizeOf(n int) int64 {
	var s int64
	for _, p := range r.Parts[:n] {
		s += p.Size
	}
	return s
}

// staged is an upload being written: the record it started from, and the
// part being formed.
type staged struct {
	d         *Driver
	id        string
	ctx       context.Context
	rec       *record
	buf       []byte // the tail so far; a part goes out when it is full
	initParts int    // what the record had when staged, for Prev
	initTail  []byte
	dirty     bool  // the record must be written at Close
	err       error // a part that could not be written: nothing more is taken
	released  bool  // buf went back to the pool
	tailLen   int   // len(buf) when it did
}

// Size is the data's length so far; it holds after Close, as the Store reads it then.
func (s *staged) Size() int64 {
	tail := len(s.buf)
	if s.released {
		tail = s.tailLen
	}
	return s.rec.partsSize() + int64(tail) + s.doneSize()
}

func (s *staged) doneSize() int64 {
	if s.rec.Done {
		return s.rec.Size
	}
	return 0
}

// Write adds p to the part being formed, sending the part when it is full.
// Bytes it takes are kept even when sending fails: they stay in the tail.
func (s *staged) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.rec.Done {
		if err := s.reopen(); err != nil {
			s.err = err
			return 0, err
		}
	}
	n := 0
	for len(p) > 0 {
		k := min(int(s.d.partSize)-len(s.buf), len(p))
		if k <= 0 {
			k = len(p) // a tail left longer than a part by a failure: send it whole
		}
		s.buf = append(s.buf, p[:k]...)
		p, n, s.dirty = p[k:], n+k, true
		if int64(len(s.buf)) >= s.d.partSize {
			if err := s.sendPart(); err != nil {
				s.err = err
				return n, err
			}
		}
	}
	return n, nil
}

// sendPart sends the part being formed to the multipart upload, starting it if needed.
func (s *staged) sendPart() error {
	if s.rec.MPU == "" {
		out, err := s.d.client.CreateMultipartUpload(s.ctx, &s3.CreateMultipartUploadInput{Bucket: &s.d.bucket,
			Key: aws.String(s.d.dataKey(s.id))})
		if err != nil {
			return classify(err)
		}
		s.rec.MPU = aws.ToString(out.UploadId)
	}
	n := int32(len(s.rec.Parts) + 1)
	out, err := s.d.client.UploadPart(s.ctx, &s3.UploadPartInput{Bucket: &s.d.bucket, Key: aws.String(s.d.dataKey(s.id)),
		UploadId: &s.rec.MPU, PartNumber: &n, Body: bytes.NewReader(s.buf), ContentLength: aws.Int64(int64(len(s.buf)))},
		unsignedPayload)
	if err != nil {
		return classify(err)
	}
	s.rec.Parts = append(s.rec.Parts, part{N: n, ETag: aws.ToString(out.ETag), Size: int64(len(s.buf))})
	s.buf = s.buf[:0]
	return nil
}

// reopen makes completed content (Done) appendable again: a new multipart
// upload whose first part is a copy of it (the first Size bytes), or, when
// it is shorter than a part may be, the bytes read back into the tail.
func (s *staged) reopen() error {
	size, key := s.rec.Size, s.d.dataKey(s.id)
	fresh := &record{}
	if size >= minPart {
		out, err := s.d.client.CreateMultipartUpload(s.ctx, &s3.CreateMultipartUploadInput{Bucket: &s.d.bucket, Key: &key})
		if err != nil {
			return classify(err)
		}
		fresh.MPU = aws.ToString(out.UploadId)
		cp, err := s.d.client.UploadPartCopy(s.ctx, &s3.UploadPartCopyInput{Bucket: &s.d.bucket, Key: &key,
			UploadId: out.UploadId, PartNumber: aws.Int32(1), CopySource: aws.String(s.d.bucket + "/" + key),
			CopySourceRange: aws.String(fmt.Sprintf("bytes=0-%d", size-1))})
		if err != nil {
			return classify(err)
		}
		fresh.Parts = []part{{N: 1, ETag: aws.ToString(cp.CopyPartResult.ETag), Size: size}}
	} else if size > 0 {
		out, err := s.d.client.GetObject(s.ctx, &s3.GetObjectInput{Bucket: &s.d.bucket, Key: &key,
			Range: aws.String(fmt.Sprintf("bytes=0-%d", size-1))})
		if err != nil {
			return classify(err)
		}
		b, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil || int64(len(b)) != size {
			return fmt.Errorf("upload %s: read back %d of %d bytes: %w", s.id, len(b), size, errdefs.ErrUnavailable)
		}
		s.buf = append(s.buf[:0], b...)
	}
	s.rec, s.initParts, s.initTail, s.dirty = fresh, 0, nil, true
	return nil
}

// Close writes the record (sending the tail as a part when it is big
// enough to be one) and keeps the data for a later Stage.
func (s *staged) Close() error {
	defer s.release()
	if !s.dirty || s.released {
		return nil
	}
	if len(s.buf) >= minPart && s.err == nil {
		s.sendPart() // on failure the bytes stay in the tail
	}
	if len(s.rec.Parts) > s.initParts {
		s.rec.Prev = &prevRecord{Parts: s.initParts, Tail: int64(len(s.initTail))}
		s.rec.prevTail = s.initTail
	}
	s.rec.tail = s.buf
	return s.d.saveRecord(context.WithoutCancel(s.ctx), s.id, s.rec)
}

func (s *staged) release() {
	if !s.released {
		s.released, s.tailLen = true, len(s.buf)
		s.d.putBuf(s.buf)
		s.buf = nil
	}
}

// Commit completes the content at data/<id>, removes the upload's record,
// then writes the marker that makes it blob dg; the record goes first so
// that RemoveUpload never takes content a marker points at. Markers of
// content dg had before go last; that content stays for readers that
// opened it, until the collector takes it as an orphan.
func (s *staged) Commit(ctx context.Context, dg digest.Digest) error {
	defer s.release()
	if err := storage.CheckDigest(dg); err != nil {
		return err
	}
	if s.err != nil {
		return s.err
	}
	size := s.Size()
	if err := s.complete(ctx); err != nil {
		return err
	}
	if err := s.d.remove(ctx, s.d.recordKey(s.id)); err != nil {
		return err
	}
	m := marker{id: s.id, size: size}
	if err := s.d.put(ctx, s.d.markerDir(dg)+s.id+"."+strconv.FormatInt(size, 10), nil, nil); err != nil {
		return err
	}
	s.d.cache.put(dg, m)
	return s.d.dropOtherMarkers(ctx, dg, s.id)
}

// dropOtherMarkers removes blob dg's markers but id's.
func (d *Driver) dropOtherMarkers(ctx context.Context, dg digest.Digest, id string) error {
	out, err := d.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &d.bucket, Prefix: aws.String(d.markerDir(dg))})
	if err != nil {
		return classify(err)
	}
	for _, o := range out.Contents {
		if m, ok := parseMarker(lastElem(aws.ToString(o.Key))); ok && m.id != id {
			if err := d.remove(ctx, aws.ToString(o.Key)); err != nil {
				return err
			}
		}
	}
	return nil
}

// complete makes data/<id> hold everything staged.
func (s *staged) complete(ctx context.Context) error {
	switch {
	case s.rec.Done && len(s.buf) == 0:
		return nil
	case s.rec.MPU == "":
		return s.d.put(ctx, s.d.dataKey(s.id), s.buf, nil)
	}
	if len(s.buf) > 0 {
		if err := s.sendPart(); err != nil {
			return err
		}
	}
	var done []types.CompletedPart
	for _, p := range s.rec.Parts {
		done = append(done, types.CompletedPart{PartNumber: aws.Int32(p.N), ETag: aws.String(p.ETag)})
	}
	_, err := s.d.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &s.d.bucket,
		Key: aws.String(s.d.dataKey(s.id)), UploadId: &s.rec.MPU, MultipartUpload: &types.CompletedMultipartUpload{Parts: done}})
	return classify(err)
}

// ReadStaged reads upload id's data. Parts of a multipart upload cannot be
// read, so an upload that has any is completed first (its record then says Done).
func (d *Driver) ReadStaged(ctx context.Context, id string) (io.ReadCloser, error) {
	if err := storage.CheckUploadID(id); err != nil {
		return nil, err
	}
	rec, err := d.loadRecord(ctx, id)
	if err != nil {
		return nil, err
	}
	if rec.MPU == "" && !rec.Done {
		return io.NopCloser(bytes.NewReader(rec.tail)), nil
	}
	if !rec.Done {
		done := &record{header: header{Done: true, Size: rec.size()}}
		s := &staged{d: d, id: id, ctx: ctx, rec: rec, buf: rec.tail}
		if err := s.complete(ctx); err != nil {
			return nil, err
		}
		if err := d.saveRecord(ctx, id, done); err != nil {
			return nil, err
		}
		rec = done
	}
	o := &object{ctx: ctx, d: d, key: d.dataKey(id), size: rec.Size}
	return o, o.open()
}

// orphanPrefix names, in Uploads, content left with neither an upload nor
// a marker (a commit that failed half way); RemoveUpload deletes it.
const orphanPrefix = "orphan-"

// RemoveUpload forgets upload id: its multipart uploads are aborted, its
// records removed, and content it completed but never committed deleted.
func (d *Driver) RemoveUpload(ctx context.Context, id string) error {
	if err := storage.CheckUploadID(id); err != nil {
		return err
	}
	if orphan, ok := strings.CutPrefix(id, orphanPrefix); ok {
		if _, err := d.loadRecord(ctx, orphan); !errdefs.IsNotFound(err) {
			return err // an upload owns it again (or the store cannot say)
		}
		return d.remove(ctx, d.dataKey(orphan))
	}
	rec, err := d.loadRecord(ctx, id)
	if err != nil && !errdefs.IsNotFound(err) && !errdefs.IsConflict(err) {
		return err
	}
	if err := d.abortAll(ctx, id); err != nil {
		return err
	}
	if rec != nil && rec.Done {
		if err := d.remove(ctx, d.dataKey(id)); err != nil {
			return err
		}
	}
	return d.remove(ctx, d.recordKey(id))
}

// abortAll aborts every multipart upload on data/<id>, the record's and any
// a crashed writer left.
func (d *Driver) abortAll(ctx context.Context, id string) error {
	key := d.dataKey(id)
	out, err := d.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &d.bucket, Prefix: &key})
	if err != nil {
		return classify(err)
	}
	for _, u := range out.Uploads {
		if aws.ToString(u.Key) != key {
			continue
		}
		_, err := d.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &d.bucket, Key: &key, UploadId: u.UploadId})
		if err = classify(err); err != nil && !errdefs.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// Uploads calls fn for every upload, with its data's size and when it last
// changed, then for content no upload or marker owns (as "orphan-<id>").
func (d *Driver) Uploads(ctx context.Context, fn func(string, int64, time.Time) error) error {
	type upload struct {
		modified time.Time
	}
	found := map[string]*upload{}
	var order []string
	base := d.key("uploads") + "/"
	err := d.list(ctx, base, func(o types.Object) error {
		id, name, _ := strings.Cut(strings.TrimPrefix(aws.ToString(o.Key), base), "/")
		if storage.CheckUploadID(id) != nil || name != "data" {
			return nil
		}
		u := found[id]
		if u == nil {
			u = &upload{}
			found[id] = u
			order = append(order, id)
		}
		if t := aws.ToTime(o.LastModified); t.After(u.modified) {
			u.modified = t
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range order {
		out, err := d.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &d.bucket, Key: aws.String(d.recordKey(id))})
		if err = classify(err); errdefs.IsNotFound(err) {
			continue // gone meanwhile
		} else if err != nil {
			return err
		}
		size, _ := strconv.ParseInt(out.Metadata["size"], 10, 64)
		if err := fn(id, size, found[id].modified); err != nil {
			return err
		}
	}
	return d.orphans(ctx, func(id string, o types.Object) bool { return found[id] != nil }, fn)
}

// orphans calls fn for content under data/ that no upload (owned) and no marker refers to.
func (d *Driver) orphans(ctx context.Context, owned func(string, types.Object) bool, fn func(string, int64, time.Time) error) error {
	candidates := map[string]types.Object{}
	base := d.key("data") + "/"
	err := d.list(ctx, base, func(o types.Object) error {
		id := strings.TrimPrefix(aws.ToString(o.Key), base)
		if storage.CheckUploadID(id) == nil && !owned(id, o) {
			candidates[id] = o
		}
		return nil
	})
	if err != nil || len(candidates) == 0 {
		return err
	}
	markers := d.key("blobs") + "/"
	err = d.list(ctx, markers, func(o types.Object) error {
		if m, ok := parseMarker(lastElem(aws.ToString(o.Key))); ok {
			delete(candidates, m.id)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for id, o := range candidates {
		if err := fn(orphanPrefix+id, aws.ToInt64(o.Size), aws.ToTime(o.LastModified)); err != nil {
			return err
		}
	}
	return nil
}

func lastElem(key string) string {
	return key[strings.LastIndexByte(key, '/')+1:]
}

// getBuf and putBuf recycle the part buffers.
func (d *Driver) getBuf() []byte {
	if b, ok := d.bufs.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, d.partSize)
}

func (d *Driver) putBuf(b []byte) {
	if int64(cap(b)) == d.partSize {
		d.bufs.Put(&b)
	}
}
