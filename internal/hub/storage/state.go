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
}

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

// encodeState records a driver's state and, when h is not nil, the running hash.
func encodeState(driver []byte, h hash.Hash) ([]byte, error) {
	st := uploadState{Driver: driver}
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
func (s *Store) stage(ctx context.Context, u meta.Upload) (Staged, hash.Hash, error) {
	st, err := decodeState(u.State)
	if err != nil {
		return nil, nil, err
	}
	staged, err := s.driver.Stage(ctx, u.ID, u.Offset, st.Driver)
	if err != nil {
		return nil, nil, err
	}
	if _, exact := s.driver.(ExactCommitter); !exact {
		return staged, nil, nil
	}
	h := runningHash.Hash()
	if u.Offset == 0 {
		return staged, h, nil
	}
	if st.Hash != runningHash || h.(encoding.BinaryUnmarshaler).UnmarshalBinary(st.Sum) != nil {
		return staged, nil, nil // read back at the end
	}
	return staged, h, nil
}
