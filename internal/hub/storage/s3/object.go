package s3

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
)

// object reads a blob's content from where a Seek left it, with one ranged
// GET per run of reads.
type object struct {
	ctx  context.Context
	d    *Driver
	dg   digest.Digest
	key  string
	size int64
	off  int64
	body io.ReadCloser
}

// open starts the GET from o.off: Open and Seek call it at once, so that a
// store that is down fails the request before its headers are sent.
func (o *object) open() error {
	if o.body != nil || o.off >= o.size {
		return nil
	}
	out, err := o.d.client.GetObject(o.ctx, &s3.GetObjectInput{Bucket: &o.d.bucket, Key: &o.key,
		Range: aws.String(fmt.Sprintf("bytes=%d-", o.off))})
	if err != nil {
		if err = classify(err); errdefs.IsNotFound(err) {
			o.d.cache.drop(o.dg) // collected and pushed again, perhaps: look again next time
		}
		return fmt.Errorf("blob %s: %w", o.dg, err)
	}
	o.body = out.Body
	return nil
}

func (o *object) Read(p []byte) (int, error) {
	if o.off >= o.size {
		return 0, io.EOF
	}
	if err := o.open(); err != nil {
		return 0, err
	}
	if rest := o.size - o.off; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := o.body.Read(p)
	o.off += int64(n)
	if errors.Is(err, io.EOF) && o.off < o.size {
		err = fmt.Errorf("blob %s: the object store ended it at byte %d of %d: %w", o.dg, o.off, o.size, io.ErrUnexpectedEOF)
	}
	return n, err
}

func (o *object) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += o.off
	case io.SeekEnd:
		offset += o.size
	}
	if offset < 0 {
		return 0, fmt.Errorf("seek to %d: %w", offset, errdefs.ErrInvalidArgument)
	}
	if offset != o.off && o.body != nil {
		o.body.Close()
		o.body = nil
	}
	o.off = offset
	return offset, o.open()
}

func (o *object) Close() error {
	if o.body != nil {
		return o.body.Close()
	}
	return nil
}
