package storage

import (
	"context"
	"crypto/rand"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
)

// Upload is an upload session: its bytes so far, in a repository.
type Upload struct {
	ID        string
	Repo      string
	Offset    int64 // bytes received
	StartedAt time.Time
}

// uploadState is the record a Driver keeps for an upload: enough to go on
// after a restart without reading the data again. The running hash is
// always sha256 (the digest comes only at the end); another algorithm is
// verified by reading the data once more.
type uploadState struct {
	Repo      string    `json:"repo"`
	Offset    int64     `json:"offset"`
	Hash      []byte    `json:"hash"` // sha256 state after Offset bytes (encoding.BinaryMarshaler)
	StartedAt time.Time `json:"startedAt"`
}

// RangeError is a chunk that does not start where the upload ends.
type RangeError struct{ Offset int64 }

func (e *RangeError) Error() string {
	return fmt.Sprintf("chunk out of order: the upload has %d bytes, so the next chunk must start at %d", e.Offset, e.Offset)
}

// DigestError is content that does not match the digest it was given as.
type DigestError struct{ Want, Got digest.Digest }

func (e *DigestError) Error() string {
	return fmt.Sprintf("content is %s, not %s", e.Got, e.Want)
}

// ErrUploadUnknown: no such upload in that repository.
var ErrUploadUnknown = fmt.Errorf("upload unknown: %w", errdefs.ErrNotFound)

func newID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// StartUpload begins an upload session in repo.
func (s *Store) StartUpload(ctx context.Context, repo string) (Upload, error) {
	u := Upload{ID: newID(), Repo: repo, StartedAt: s.opts.Now()}
	h := digest.SHA256.Hash()
	st := uploadState{Repo: repo, StartedAt: u.StartedAt}
	if err := s.saveState(ctx, u.ID, st, h); err != nil {
		return Upload{}, err
	}
	return u, nil
}

func (s *Store) saveState(ctx context.Context, id string, st uploadState, h hash.Hash) error {
	b, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return err
	}
	st.Hash = b
	rec, _ := json.Marshal(st)
	return s.driver.PutState(ctx, id, rec)
}

// load returns an upload's state and its running hash restored.
func (s *Store) load(ctx context.Context, repo, id string) (uploadState, hash.Hash, error) {
	var st uploadState
	rec, err := s.driver.State(ctx, id)
	if errdefs.IsNotFound(err) || errdefs.IsInvalidArgument(err) {
		return st, nil, ErrUploadUnknown
	}
	if err != nil {
		return st, nil, err
	}
	if json.Unmarshal(rec, &st) != nil || st.Repo != repo {
		return st, nil, ErrUploadUnknown
	}
	h := digest.SHA256.Hash()
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(st.Hash); err != nil {
		return st, nil, fmt.Errorf("upload %s: hash state: %w", id, err)
	}
	return st, h, nil
}

// Status returns an upload of repo.
func (s *Store) Status(ctx context.Context, repo, id string) (Upload, error) {
	st, _, err := s.load(ctx, repo, id)
	return Upload{ID: id, Repo: repo, Offset: st.Offset, StartedAt: st.StartedAt}, err
}

// Append adds a chunk to an upload. start is where the client says the
// chunk begins (-1: not said); a chunk that does not begin where the upload
// ends is a *RangeError. The state is saved even when the body breaks off,
// so the client can resume from what arrived.
func (s *Store) Append(ctx context.Context, repo, id string, start int64, body io.Reader) (Upload, error) {
	st, h, err := s.load(ctx, repo, id)
	if err != nil {
		return Upload{}, err
	}
	u := Upload{ID: id, Repo: repo, Offset: st.Offset, StartedAt: st.StartedAt}
	if start >= 0 && start != st.Offset {
		return u, &RangeError{Offset: st.Offset}
	}
	staged, err := s.driver.Stage(ctx, id, st.Offset)
	if err != nil {
		return u, err
	}
	_, copyErr := copyHashed(staged, h, body)
	closeErr := staged.Close()
	st.Offset = staged.Size()
	u.Offset = st.Offset
	if err := s.saveState(context.WithoutCancel(ctx), id, st, h); err != nil {
		return u, err
	}
	return u, errors.Join(copyErr, closeErr)
}

// Finish appends a last chunk (body may be nil), checks the content against
// d, and publishes it as a blob of repo. On a mismatch the upload is
// dropped and a *DigestError returned.
func (s *Store) Finish(ctx context.Context, repo, id string, start int64, body io.Reader, d digest.Digest) (int64, error) {
	st, h, err := s.load(ctx, repo, id)
	if err != nil {
		return 0, err
	}
	if start >= 0 && start != st.Offset {
		return 0, &RangeError{Offset: st.Offset}
	}
	staged, err := s.driver.Stage(ctx, id, st.Offset)
	if err != nil {
		return 0, err
	}
	if body != nil {
		if _, err := copyHashed(staged, h, body); err != nil {
			staged.Close()
			return 0, err
		}
	}
	got := digest.NewDigest(digest.SHA256, h)
	if d.Algorithm() != digest.SHA256 {
		if got, err = s.rehash(ctx, id, d.Algorithm()); err != nil {
			staged.Close()
			return 0, err
		}
	}
	if got != d {
		staged.Close()
		s.driver.RemoveUpload(context.WithoutCancel(ctx), id)
		return 0, &DigestError{Want: d, Got: got}
	}
	size := staged.Size()
	return size, s.publish(ctx, repo, d, size, staged, id)
}

// rehash digests an upload's data with another algorithm.
func (s *Store) rehash(ctx context.Context, id string, alg digest.Algorithm) (digest.Digest, error) {
	if !alg.Available() {
		return "", fmt.Errorf("digest algorithm %q: %w", alg, errdefs.ErrInvalidArgument)
	}
	rc, err := s.driver.ReadStaged(ctx, id)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	return alg.FromReader(rc)
}

// Cancel drops an upload.
func (s *Store) Cancel(ctx context.Context, repo, id string) error {
	if _, _, err := s.load(ctx, repo, id); err != nil {
		return err
	}
	return s.driver.RemoveUpload(ctx, id)
}

// Put stores a whole blob in one go (a POST with ?digest=): content is
// hashed with d's algorithm while it streams, and published as d.
func (s *Store) Put(ctx context.Context, repo string, d digest.Digest, body io.Reader) (int64, error) {
	if !d.Algorithm().Available() {
		return 0, fmt.Errorf("digest algorithm %q: %w", d.Algorithm(), errdefs.ErrInvalidArgument)
	}
	id := newID()
	staged, err := s.driver.Stage(ctx, id, 0)
	if err != nil {
		return 0, err
	}
	h := d.Algorithm().Hash()
	if _, err := copyHashed(staged, h, body); err != nil {
		staged.Close()
		s.driver.RemoveUpload(context.WithoutCancel(ctx), id)
		return 0, err
	}
	if got := digest.NewDigest(d.Algorithm(), h); got != d {
		staged.Close()
		s.driver.RemoveUpload(context.WithoutCancel(ctx), id)
		return 0, &DigestError{Want: d, Got: got}
	}
	size := staged.Size()
	return size, s.publish(ctx, repo, d, size, staged, id)
}
