package s3

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/storage"
)

// An upload's bytes are the parts of a multipart upload, then a tail: the
// bytes past the last part, shorter than a part, in an object of their
// own. S3 cannot append, so a chunk fills the part being formed in memory
// while its request lasts; full parts go to the multipart upload (the next
// parts fill while a few are sent), and what is left when the request ends
// goes to a new tail object. Which parts and which tail make the upload is
// its state, recorded by storage.Store with the upload's offset in meta,
// in one transaction: the store holds no record of its own, and a later
// chunk, on this node or another, starts from that state.
//
// Every object an upload writes has a name no one used before
// (data/<id>.<random>), and every part carries its SHA-256, which the
// store checks against the state's list when it assembles the parts. So a
// commit makes visible exactly the bytes the state describes, whatever a
// writer that lost its lease still sends (storage.ExactCommitter). A blob
// that fits in a part is never a multipart upload: its tail object is its
// content, committed where it lies, unless the last request added to it
// (then the content goes in its marker, see Commit).
type state struct {
	Key   string `json:"key,omitempty"` // the multipart upload's object (a name under data/); "" none yet
	MPU   string `json:"mpu,omitempty"`
	Parts []part `json:"parts,omitempty"`
	Tail  string `json:"tail,omitempty"` // the tail's object (a name under data/); "" no tail
	// TailSize is the tail's length.
	TailSize int64 `json:"tailSize,omitempty"`
}

type part struct {
	N      int32  `json:"n"`
	ETag   string `json:"etag"`
	SHA256 string `json:"sha256"` // base64, as S3 takes it
	Size   int64  `json:"size"`
}

func (st *state) partsSize() int64 {
	var n int64
	for _, p := range st.Parts {
		n += p.Size
	}
	return n
}

func (st *state) size() int64 { return st.partsSize() + st.TailSize }

func (d *Driver) dataKey(name string) string { return d.key("data", name) }

// newName is a name under data/ for an object of upload id that no one used before.
func newName(id string) string {
	b := make([]byte, 8)
	rand.Read(b)
	return id + "." + hex.EncodeToString(b)
}

// CommitsExactly marks the guarantee storage.ExactCommitter describes.
func (d *Driver) CommitsExactly() {}

var _ storage.ExactCommitter = (*Driver)(nil)

// parseState reads a recorded state; nil is a new upload.
func parseState(id string, b []byte) (*state, error) {
	st := &state{}
	if len(b) == 0 {
		return st, nil
	}
	if err := json.Unmarshal(b, st); err != nil || st.TailSize < 0 || (st.MPU == "") != (st.Key == "") {
		return nil, fmt.Errorf("upload %s: its recorded state is damaged: %w", id, errdefs.ErrConflict)
	}
	return st, nil
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
func (d *Driver) put(ctx context.Context, key string, b []byte) error {
	_, err := d.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &d.bucket, Key: &key, Body: bytes.NewReader(b),
		ContentLength: aws.Int64(int64(len(b)))}, unsignedPayload)
	return classify(err)
}

// unsignedPayload sends content without hashing it for the signature: the
// hub verifies every blob's digest itself, and parts carry their own
// SHA-256, so a second hash of each body would only cost CPU.
func unsignedPayload(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
}

// Stage opens upload id's data for appending at offset, from the state
// recorded with it.
func (d *Driver) Stage(ctx context.Context, id string, offset int64, recorded []byte) (storage.Staged, error) {
	if err := storage.CheckUploadID(id); err != nil {
		return nil, err
	}
	if offset > 0 && len(recorded) == 0 {
		return nil, fmt.Errorf("upload %s: no state recorded for its %d bytes: %w", id, offset, errdefs.ErrNotFound)
	}
	st, err := parseState(id, recorded)
	if err != nil {
		return nil, err
	}
	s := &staged{d: d, id: id, ctx: ctx, st: st, keep: st.TailSize}
	switch size := st.size(); {
	case offset > size:
		return nil, fmt.Errorf("upload %s has %d bytes, not the %d its state records: %w", id, size, offset, errdefs.ErrConflict)
	case offset < st.partsSize():
		return nil, fmt.Errorf("upload %s: its data cannot be cut back to byte %d; start the upload again: %w", id, offset, errdefs.ErrConflict)
	case offset < size:
		s.keep, s.dirty = offset-st.partsSize(), true
	}
	return s, nil
}

// staged is an upload being written: the state it started from, the part
// being formed, and the parts being sent.
type staged struct {
	d       *Driver
	id      string
	ctx     context.Context
	st      *state
	keep    int64      // how much of st's tail object belongs to the data (it may be cut)
	buf     []byte     // the tail so far, once loaded; a part goes out when it is full
	ready   bool       // buf holds the tail (st.Tail's first keep bytes, then writes)
	dirty   bool       // the state changes at Close
	sending []*sending // parts in flight, in order: st.Parts gets them as they arrive
	err     error      // a part that could not be sent: nothing more is taken
	done    bool       // closed or committed: buffers went back to the pool
}

// sending is a part on its way to the store.
type sending struct {
	buf   []byte
	n     int32
	spare bool // it holds one of the driver's spare slots
	done  chan struct{}
	part  part
	err   error
}

// putSpare gives back a spare slot a part held.
func (d *Driver) putSpare(held bool) {
	if held {
		<-d.spare
	}
}

// reap gives back what a part that arrived or came back held.
func (s *staged) reap(snd *sending) {
	s.d.putBuf(snd.buf)
	s.d.putSpare(snd.spare)
}

// Size is the data's length so far; it holds after Close, as the Store reads it then.
func (s *staged) Size() int64 {
	if s.done {
		return s.st.size()
	}
	n := s.st.partsSize() + int64(len(s.buf))
	for _, snd := range s.sending {
		n += int64(len(snd.buf))
	}
	if !s.ready {
		n += s.keep
	}
	return n
}

// State is the state to record once Close returned nil.
func (s *staged) State() []byte {
	b, _ := json.Marshal(s.st)
	return b
}

// load reads the tail into the part being formed, before bytes are added to it.
func (s *staged) load() error {
	if s.ready {
		return nil
	}
	s.buf = nil // grown as bytes come: see grow
	if s.keep > 0 {
		b, err := s.d.get(s.ctx, s.d.dataKey(s.st.Tail))
		if err != nil {
			return fmt.Errorf("upload %s: its tail: %w", s.id, err)
		}
		if int64(len(b)) < s.keep {
			return fmt.Errorf("upload %s: its tail has %d bytes, not %d: %w", s.id, len(b), s.keep, errdefs.ErrConflict)
		}
		s.grow(int(s.keep))
		s.buf = append(s.buf, b[:s.keep]...)
	}
	s.ready = true
	return nil
}

// grow makes room in the part being formed for k more bytes. An upload's
// first part starts small and doubles up to a part's size (then a pooled
// buffer), so that a small blob (a config, a small layer, a short last
// chunk) does not hold a whole part's memory: with 8 MiB parts, 64 clients
// pushing 2 MiB layers took 570 MiB.
func (s *staged) grow(k int) {
	need := len(s.buf) + k
	if need <= cap(s.buf) {
		return
	}
	var b []byte
	if c := max(need, 2*cap(s.buf), 64<<10); int64(c) < s.d.partSize {
		b = make([]byte, 0, c)
	} else {
		b = s.d.getBuf()
	}
	s.buf = append(b, s.buf...)
}

// Write adds p to the part being formed, sending the part when it is full
// while the next ones fill. Bytes it takes are kept even when sending
// fails: they go to the tail at Close.
func (s *staged) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if err := s.load(); err != nil {
		s.err = err
		return 0, err
	}
	n := 0
	for len(p) > 0 {
		k := min(int(s.d.partSize)-len(s.buf), len(p))
		if k <= 0 {
			k = len(p) // a tail left longer than a part by a failure: send it whole
		}
		s.grow(k)
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

// sendPart starts sending the part being formed, starting the multipart
// upload if needed. A single part in flight left each upload waiting on
// the store's latency, so up to Options.PartsInFlight go at once, those
// beyond the first while the driver has a spare slot for them; else it
// waits for the oldest. Memory stays at that many parts and the one
// forming, per upload.
func (s *staged) sendPart() error {
	spare := false
	for !spare {
		if err := s.settle(s.d.inFlight - 1); err != nil {
			return err
		}
		if len(s.sending) == 0 {
			break // the upload's own part in flight
		}
		select {
		case s.d.spare <- struct{}{}:
			spare = true
		default:
			if err := s.settle(len(s.sending) - 1); err != nil {
				return err
			}
		}
	}
	if s.st.MPU == "" {
		key := newName(s.id)
		out, err := s.d.client.CreateMultipartUpload(s.ctx, &s3.CreateMultipartUploadInput{Bucket: &s.d.bucket,
			Key: aws.String(s.d.dataKey(key)), ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
			ChecksumType: types.ChecksumTypeComposite})
		if err != nil {
			s.d.putSpare(spare)
			return classify(err)
		}
		s.st.Key, s.st.MPU = key, aws.ToString(out.UploadId)
	}
	snd := &sending{buf: s.buf, n: int32(len(s.st.Parts) + len(s.sending) + 1), spare: spare, done: make(chan struct{})}
	s.sending, s.buf = append(s.sending, snd), s.d.getBuf()
	go func() {
		defer close(snd.done)
		sum := sha256.Sum256(snd.buf)
		snd.part = part{N: snd.n, SHA256: base64.StdEncoding.EncodeToString(sum[:]), Size: int64(len(snd.buf))}
		out, err := s.d.client.UploadPart(s.ctx, &s3.UploadPartInput{Bucket: &s.d.bucket, Key: aws.String(s.d.dataKey(s.st.Key)),
			UploadId: aws.String(s.st.MPU), PartNumber: &snd.n, Body: bytes.NewReader(snd.buf),
			ContentLength: aws.Int64(int64(len(snd.buf))), ChecksumSHA256: &snd.part.SHA256}, unsignedPayload)
		if err != nil {
			snd.err = classify(err)
			return
		}
		snd.part.ETag = aws.ToString(out.ETag)
	}()
	return nil
}

// settle takes the parts that arrived into the state, oldest first, and
// waits until at most n are in flight. The state only ever lists a run of
// parts from the first: a part that failed comes back to the front of the
// part being formed with every part after it (arrived or not, their
// numbers are sent again), in order, to go out again or stay in the tail.
func (s *staged) settle(n int) error {
	for len(s.sending) > 0 {
		snd := s.sending[0]
		if len(s.sending) > n {
			<-snd.done
		} else {
			select {
			case <-snd.done:
			default:
				return nil
			}
		}
		if snd.err != nil {
			s.takeBack()
			return snd.err
		}
		s.st.Parts = append(s.st.Parts, snd.part)
		s.reap(snd)
		s.sending[0] = nil
		s.sending = s.sending[1:]
	}
	return nil
}

// takeBack waits for every part in flight and puts their bytes back in
// front of the part being formed.
func (s *staged) takeBack() {
	size := len(s.buf)
	for _, snd := range s.sending {
		<-snd.done
		size += len(snd.buf)
	}
	back := make([]byte, 0, size)
	for _, snd := range s.sending {
		back = append(back, snd.buf...)
		s.reap(snd)
	}
	s.buf = append(back, s.buf...)
	s.sending = nil
}

// Close sends what is in flight and writes the tail (as a part when it is
// big enough to be one) to an object of its own, for a later Stage.
func (s *staged) Close() error {
	defer s.release()
	if s.done {
		return nil
	}
	if err := s.settle(0); err != nil && s.err == nil {
		s.err = err
	}
	if !s.dirty {
		return nil
	}
	if err := s.load(); err != nil {
		return err
	}
	if int64(len(s.buf)) >= minPart && s.err == nil && s.sendPart() == nil {
		if err := s.settle(0); err != nil {
			s.err = err // the bytes came back: they go to the tail
		}
	}
	s.st.Tail, s.st.TailSize = "", int64(len(s.buf))
	if len(s.buf) > 0 {
		s.st.Tail = newName(s.id)
		if err := s.d.put(context.WithoutCancel(s.ctx), s.d.dataKey(s.st.Tail), s.buf); err != nil {
			return err
		}
	}
	return nil
}

func (s *staged) release() {
	if !s.done {
		s.done = true
		for _, snd := range s.sending {
			<-snd.done
			s.reap(snd)
		}
		s.sending = nil
		s.d.putBuf(s.buf)
		s.buf = s.buf[:0:0]
	}
}

// Commit makes the content whole where it will stay, then writes the
// marker that makes it blob dg: content that fits in a part and that this
// request wrote to goes in the marker itself (one request); else
// the marker names the tail object (nothing to send when it is unchanged)
// or the multipart upload, completed with the tail as its last part.
// Markers of content dg had before go last; that content stays for
// readers that opened it, until the collector takes it as an orphan. They
// are listed while the content is made whole, but the list must be in
// before the marker is written: listed after it, two commits of one digest
// at once could each find the other's marker and remove it, leaving none.
func (s *staged) Commit(ctx context.Context, dg digest.Digest) error {
	defer s.release()
	if err := storage.CheckDigest(dg); err != nil {
		return err
	}
	if err := s.settle(0); err != nil {
		return err
	}
	if s.err != nil {
		return s.err
	}
	size := s.Size()
	listed := s.d.listMarkers(ctx, dg)
	var name string
	var content []byte
	var err error
	if s.st.MPU == "" && (s.dirty || s.st.Tail == "") {
		// Content that fits in a part and is in memory (or must be read
		// to be written again): the marker holds it, in one request.
		if err := s.load(); err != nil {
			return err
		}
		name, content = newName(s.id), s.buf
	} else if name, err = s.complete(ctx); err != nil {
		return err
	}
	before, err := listed()
	if err != nil {
		return err
	}
	if err := s.d.put(ctx, s.d.markerDir(dg)+name+"."+fmt.Sprint(size), content); err != nil {
		return err
	}
	s.d.cache.put(dg, marker{obj: name, size: size, inline: content != nil && size > 0})
	return s.d.dropMarkers(ctx, before, name)
}

// complete makes one object hold everything staged and returns its name.
func (s *staged) complete(ctx context.Context) (string, error) {
	if s.st.MPU == "" && !s.dirty && s.st.Tail != "" {
		return s.st.Tail, nil // a blob that fit in a part, as the last request left it
	}
	if err := s.load(); err != nil {
		return "", err
	}
	if s.st.MPU == "" {
		name := newName(s.id)
		return name, s.d.put(ctx, s.d.dataKey(name), s.buf)
	}
	if len(s.buf) > 0 {
		if err := s.sendPart(); err != nil {
			return "", err
		}
		if err := s.settle(0); err != nil {
			return "", err
		}
	}
	var done []types.CompletedPart
	for _, p := range s.st.Parts {
		done = append(done, types.CompletedPart{PartNumber: aws.Int32(p.N), ETag: aws.String(p.ETag), ChecksumSHA256: aws.String(p.SHA256)})
	}
	_, err := s.d.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &s.d.bucket,
		Key: aws.String(s.d.dataKey(s.st.Key)), UploadId: &s.st.MPU, MultipartUpload: &types.CompletedMultipartUpload{Parts: done},
		ChecksumType: types.ChecksumTypeComposite})
	return s.st.Key, classify(err)
}

// listMarkers lists blob dg's markers while the caller goes on; the
// function returned waits for the list.
func (d *Driver) listMarkers(ctx context.Context, dg digest.Digest) func() ([]types.Object, error) {
	type listing struct {
		objs []types.Object
		err  error
	}
	c := make(chan listing, 1)
	go func() {
		out, err := d.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &d.bucket, Prefix: aws.String(d.markerDir(dg))})
		if err != nil {
			c <- listing{err: classify(err)}
			return
		}
		c <- listing{objs: out.Contents}
	}()
	return func() ([]types.Object, error) { l := <-c; return l.objs, l.err }
}

// dropMarkers removes the markers listed but the one naming obj.
func (d *Driver) dropMarkers(ctx context.Context, objs []types.Object, obj string) error {
	for _, o := range objs {
		if m, ok := parseMarker(lastElem(aws.ToString(o.Key))); ok && m.obj != obj {
			if err := d.remove(ctx, aws.ToString(o.Key)); err != nil {
				return err
			}
		}
	}
	return nil
}

// ReadStaged reads upload id's data as its state records it. Parts of a
// multipart upload cannot be read, so an upload that has any is completed
// first: the state returned names the completed object as its only tail.
func (d *Driver) ReadStaged(ctx context.Context, id string, recorded []byte) (io.ReadCloser, []byte, error) {
	if err := storage.CheckUploadID(id); err != nil {
		return nil, nil, err
	}
	st, err := parseState(id, recorded)
	if err != nil {
		return nil, nil, err
	}
	size := st.size()
	if st.MPU != "" {
		s := &staged{d: d, id: id, ctx: ctx, st: st, keep: st.TailSize}
		name, err := s.complete(ctx)
		s.release()
		if err != nil {
			return nil, nil, err
		}
		st = &state{Tail: name, TailSize: size}
	}
	if st.Tail == "" {
		return io.NopCloser(bytes.NewReader(nil)), recorded, nil
	}
	o := &object{ctx: ctx, d: d, key: d.dataKey(st.Tail), size: size}
	b, _ := json.Marshal(st)
	return o, b, o.open()
}

// orphanPrefix names, in Uploads, content that neither a marker nor an
// upload in progress refers to (a tail a later chunk replaced, an upload
// abandoned, a commit that failed half way); RemoveUpload deletes it.
const orphanPrefix = "orphan-"

// RemoveUpload forgets upload id: its multipart uploads are aborted. The
// objects it wrote stay until Uploads finds them orphaned (no marker names
// them): a commit may have made one a blob's content, and only the
// markers, not the caller, know.
func (d *Driver) RemoveUpload(ctx context.Context, id string) error {
	if orphan, ok := strings.CutPrefix(id, orphanPrefix); ok {
		if !validObject(orphan) {
			return fmt.Errorf("upload id %q: %w", id, errdefs.ErrInvalidArgument)
		}
		return d.remove(ctx, d.dataKey(orphan))
	}
	if err := storage.CheckUploadID(id); err != nil {
		return err
	}
	uploads, err := d.multipartUploads(ctx, d.dataKey(id+"."))
	if err != nil {
		return err
	}
	for _, u := range uploads {
		_, err := d.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &d.bucket, Key: u.Key, UploadId: u.UploadId})
		if err = classify(err); err != nil && !errdefs.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// multipartUploads lists the multipart uploads in progress under prefix.
func (d *Driver) multipartUploads(ctx context.Context, prefix string) ([]types.MultipartUpload, error) {
	var all []types.MultipartUpload
	in := &s3.ListMultipartUploadsInput{Bucket: &d.bucket, Prefix: &prefix}
	for {
		out, err := d.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return nil, classify(err)
		}
		all = append(all, out.Uploads...)
		if !aws.ToBool(out.IsTruncated) {
			return all, nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}
