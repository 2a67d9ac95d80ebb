package storage

import (
	"context"
	"encoding"
	"encoding/json"
	"fmt"
	"hash"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/hub/meta"
)

// uploadState is what the Store records beside an upload's offset, in one
// transaction with it (meta.Upload.State): the driver's own bookkeeping
// and, for a driver that commits exactly what was written
// (ExactCommitter), the running hash of those Offset bytes, so that the
// last request checks the digest without reading the bytes back.
type uploadState struct {
	Driver []byte `json:"driver,omitempty"`
	// Hash is the running hash's algorithm ("" none: the bytes are read
	// back at the end) and Sum its marshalled state after Offset bytes.
	Hash digest.Algorithm `json:"hash,omitempty"`
	Sum  []byte           `json:"sum,omitempty"`
	// Inline is the upload's bytes themselves, while it is short (at most
	// inlineMax) and its driver commits exactly: they wait in the record,
	// not in the store, and the driver gets them with the last request.
	Inline []byte `json:"inline,omitempty"`
}

// inlineMax is the most an upload keeps in its record (see
// uploadState.Inline): a small blob's chunk costs the object store
// nothing, and its commit one request.
const inlineMax = 256 << 10

// runningHash is the algorithm hashed while bytes stream in: the one
// almost every digest uses. An upload closed with another is read back.
const runningHash = digest.SHA256

func decodeState(b []byte) (uploadState, error) {
	var st uploadState
	if len(b) == 0 {
		return st, nil
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("the upload's recorded state is damaged: %v", err)
	}
	return st, nil
}

// encodeState records a driver's state (or the upload's bytes themselves)
// and, when h is not nil, the running hash.
func encodeState(driver, inline []byte, h hash.Hash) ([]byte, error) {
	st := uploadState{Driver: driver, Inline: inline}
	if h != nil {
		sum, err := h.(encoding.BinaryMarshaler).MarshalBinary()
		if err != nil {
			return nil, err
		}
		st.Hash, st.Sum = runningHash, sum
	}
	if st.Driver == nil && st.Hash == "" {
		return nil, nil
	}
	return json.Marshal(st)
}

// stage opens upload u's data where its record says it ends, with the
// running hash of those bytes when the driver commits exactly what was
// written and the record has one (a new upload starts one); nil otherwise.
// Bytes the record holds itself go to the driver first.
func (s *Store) stage(ctx context.Context, u meta.Upload) (Staged, hash.Hash, error) {
	st, h, err := s.recorded(u)
	if err != nil {
		return nil, nil, err
	}
	offset := u.Offset
	if st.Inline != nil {
		offset = 0
	}
	staged, err := s.driver.Stage(ctx, u.ID, offset, st.Driver)
	if err == nil && st.Inline != nil {
		if _, err = staged.Write(st.Inline); err != nil {
			staged.Close()
		}
	}
	if err != nil {
		return nil, nil, err
	}
	return staged, h, nil
}

// recorded reads upload u's state, and the running hash it records (see stage).
func (s *Store) recorded(u meta.Upload) (uploadState, hash.Hash, error) {
	st, err := decodeState(u.State)
	if err != nil {
		return st, nil, err
	}
	if int64(len(st.Inline)) != u.Offset && st.Inline != nil {
		return st, nil, fmt.Errorf("the upload's record holds %d bytes, not %d", len(st.Inline), u.Offset)
	}
	if _, exact := s.driver.(ExactCommitter); !exact {
		return st, nil, nil
	}
	h := runningHash.Hash()
	if u.Offset == 0 {
		return st, h, nil
	}
	if st.Hash != runningHash || h.(encoding.BinaryUnmarshaler).UnmarshalBinary(st.Sum) != nil {
		return st, nil, nil // read back at the end
	}
	return st, h, nil
}

// spill keeps an upload's bytes in memory while they fit in its record
// (inlineMax), and stages them all with the driver once more arrive.
type spill struct {
	buf    []byte
	stage  func() (Staged, error) // the driver's data, at offset 0
	staged Staged
}

func (sp *spill) Write(p []byte) (int, error) {
	if sp.staged == nil && len(sp.buf)+len(p) <= inlineMax {
		sp.buf = append(sp.buf, p...)
		return len(p), nil
	}
	if sp.staged == nil {
		st, err := sp.stage()
		if err != nil {
			return 0, err
		}
		if _, err := st.Write(sp.buf); err != nil {
			st.Close()
			return 0, err // the bytes so far stay in memory, to be recorded
		}
		sp.staged = st
	}
	return sp.staged.Write(p)
}
