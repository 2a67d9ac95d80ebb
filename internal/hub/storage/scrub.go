package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/meta"
)

// The online scrub's state, in meta's settings so that a restart or
// another node goes on where it stopped: the last digest checked in the
// pass under way ("" between passes), when the last pass ended (RFC 3339),
// and how many blobs it quarantined.
const (
	SettingScrubCursor   = "scrub.cursor"
	SettingScrubFinished = "scrub.finished"
	SettingScrubDamaged  = "scrub.damaged"
)

// Damage is a stored blob whose content is not what its digest promises.
type Damage struct {
	Digest digest.Digest
	Size   int64  // as recorded
	Reason string // "missing", or what the content hashes to
}

// ScrubReport says what a scrub checked and found.
type ScrubReport struct {
	DryRun  bool
	Blobs   int
	Bytes   int64
	Damaged []Damage // quarantined unless DryRun
	Done    bool     // it reached the last blob (else it stopped early, or was told to)
}

// ScrubOptions tune a scrub.
type ScrubOptions struct {
	DryRun bool  // report, quarantine nothing
	Rate   int64 // bytes a second to read at most; 0: as fast as the disk goes
	// After resumes a scrub after this digest; Progress, if set, is told
	// the last digest checked after every page of blobs (to resume from).
	After    digest.Digest
	Progress func(last digest.Digest) error
}

// Scrub re-hashes every live blob's stored content and quarantines each
// that is missing or does not hash to its digest (see meta's
// QuarantineBlob): it is served no more, and the next push of the same
// content heals it. Quarantined blobs are skipped. It runs beside pushes
// and pulls: a blob collected meanwhile is no damage.
func (s *Store) Scrub(ctx context.Context, o ScrubOptions) (ScrubReport, error) {
	r := ScrubReport{DryRun: o.DryRun}
	th := throttle{rate: o.Rate, start: time.Now()}
	after := o.After
	for {
		page, err := s.meta.Blobs(ctx, after, 100)
		if err != nil || len(page) == 0 {
			r.Done = err == nil
			return r, err
		}
		for _, b := range page {
			if b.State != meta.BlobLive {
				continue
			}
			reason, err := s.check(ctx, b, &th)
			if err != nil {
				return r, err
			}
			r.Blobs++
			r.Bytes += b.Size
			if reason == "" {
				continue
			}
			if !o.DryRun {
				err := s.meta.QuarantineBlob(ctx, b.Digest, s.opts.Now())
				if errdefs.IsNotFound(err) {
					continue // collected, or healed, meanwhile
				}
				if err != nil {
					return r, err
				}
				s.opts.Log.Warn("blob quarantined: its content is not what its digest says", "digest", b.Digest, "size", b.Size, "found", reason)
			}
			r.Damaged = append(r.Damaged, Damage{Digest: b.Digest, Size: b.Size, Reason: reason})
		}
		after = page[len(page)-1].Digest
		if o.Progress != nil {
			if err := o.Progress(after); err != nil {
				return r, err
			}
		}
	}
}

// check re-hashes one blob; it returns what is wrong with it, "" when nothing.
func (s *Store) check(ctx context.Context, b meta.Blob, th *throttle) (string, error) {
	if !b.Digest.Algorithm().Available() {
		return "", nil
	}
	rc, err := s.driver.Open(ctx, b.Digest)
	if errdefs.IsNotFound(err) {
		if still, _ := s.meta.Blob(ctx, b.Digest); still.State != meta.BlobLive {
			return "", nil // collected meanwhile
		}
		return "content missing", nil
	}
	if err != nil {
		return "", err
	}
	defer rc.Close()
	h := b.Digest.Algorithm().Hash()
	n, err := io.Copy(h, &throttled{ctx: ctx, r: rc, th: th})
	if err != nil {
		if errors.Is(err, ctx.Err()) {
			return "", err
		}
		return fmt.Sprintf("content unreadable: %v", err), nil
	}
	if got := digest.NewDigest(b.Digest.Algorithm(), h); got != b.Digest || n != b.Size {
		return fmt.Sprintf("content is %d bytes hashing to %s", n, got), nil
	}
	return "", nil
}

// throttle keeps reads at or under rate bytes a second, on average since start.
type throttle struct {
	rate  int64
	start time.Time
	n     int64
}

// throttled is a reader that waits as its throttle says.
type throttled struct {
	ctx context.Context
	r   io.Reader
	th  *throttle
}

func (t *throttled) Read(p []byte) (int, error) {
	if err := t.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := t.r.Read(p)
	t.th.n += int64(n)
	if t.th.rate > 0 {
		due := t.th.start.Add(time.Duration(float64(t.th.n) / float64(t.th.rate) * float64(time.Second)))
		if wait := time.Until(due); wait > 0 {
			select {
			case <-t.ctx.Done():
				return n, t.ctx.Err()
			case <-time.After(wait):
			}
		}
	}
	return n, err
}
