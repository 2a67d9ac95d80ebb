package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/strata-dev/strata/internal/content"
	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/image"
	"github.com/strata-dev/strata/internal/remote"
)

// maxResumes bounds how often one download resumes after the connection
// broke, within one pull. A later pull resumes again from what is stored.
const maxResumes = 5

// ingestRef names a blob's download, the same in every process, so that a
// pull that was interrupted (killed, Ctrl-C, network gone) resumes from the
// bytes already written.
func ingestRef(desc image.Descriptor) string { return "pull-" + desc.Digest.String() }

// download stores the blob desc, unless it is stored already. The content
// store verifies size and digest while it streams; a blob that does not
// match is discarded, whole. A connection that breaks is resumed with a Range
// request from the bytes already written. progress, when set, hears of it.
func (p *puller) download(ctx context.Context, desc image.Descriptor, progress Progress) error {
	cs := p.s.Content()
	for attempt := 0; ; attempt++ {
		w, err := openWriter(ctx, cs, desc)
		if errors.Is(err, errdefs.ErrAlreadyExists) {
			return nil
		}
		if err != nil {
			return err
		}
		err = p.fetchInto(ctx, w, desc, progress)
		if err == nil || errors.Is(err, errdefs.ErrAlreadyExists) {
			return nil
		}
		var re *remote.Error
		if ctx.Err() != nil || errors.As(err, &re) || errors.Is(err, errdefs.ErrInvalidArgument) || attempt >= maxResumes {
			return err
		}
		progress.send(desc.Digest, Retrying, 0, desc.Size)
	}
}

// openWriter opens the blob's ingest; when another process is downloading
// the same blob, it waits for that one to finish or give up.
func openWriter(ctx context.Context, cs content.Store, desc image.Descriptor) (content.Writer, error) {
	for {
		w, err := cs.Writer(ctx, ingestRef(desc), desc)
		if !errors.Is(err, errdefs.ErrUnavailable) {
			return w, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// fetchInto writes the rest of the blob into w and commits it.
func (p *puller) fetchInto(ctx context.Context, w content.Writer, desc image.Descriptor, progress Progress) error {
	defer w.Close()
	st, err := w.Status()
	if err != nil {
		return err
	}
	offset := st.Offset
	if offset > desc.Size {
		if err := w.Truncate(0); err != nil {
			return err
		}
		offset = 0
	}
	if offset < desc.Size {
		rc, err := p.repo.FetchBlob(ctx, desc, offset)
		if err != nil {
			return err
		}
		src := &progressReader{r: rc, done: offset, desc: desc, progress: progress}
		_, err = io.Copy(w, io.LimitReader(src, desc.Size-offset+1))
		rc.Close()
		if err != nil {
			if errors.Is(err, errdefs.ErrInvalidArgument) { // more bytes than the descriptor says
				w.Close()
				p.s.Content().Abort(ctx, ingestRef(desc))
				return fmt.Errorf("blob %s from %s: the registry sent more than its %d bytes; the download was discarded: %w",
					desc.Digest, p.repo, desc.Size, err)
			}
			return fmt.Errorf("blob %s from %s: %w", desc.Digest, p.repo, err)
		}
	}
	progress.send(desc.Digest, Verifying, desc.Size, desc.Size)
	if err := w.Commit(ctx, desc.Size, desc.Digest); err != nil {
		if errdefs.IsInvalidArgument(err) {
			return fmt.Errorf("blob %s from %s does not match its digest or size (%v); the partial download was discarded, pull again: %w",
				desc.Digest, p.repo, err, errdefs.ErrInvalidArgument)
		}
		return err
	}
	progress.send(desc.Digest, DownloadComplete, desc.Size, desc.Size)
	return nil
}

// progressReader reports Downloading as bytes arrive.
type progressReader struct {
	r        io.Reader
	done     int64
	desc     image.Descriptor
	progress Progress
}

func (r *progressReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	if n > 0 {
		r.done += int64(n)
		r.progress.send(r.desc.Digest, Downloading, r.done, r.desc.Size)
	}
	return n, err
}
