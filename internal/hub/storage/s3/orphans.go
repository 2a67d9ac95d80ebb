package s3

import (
	"context"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/strata-dev/strata/internal/hub/storage"
)

// Uploads calls fn for every upload with a multipart upload in progress
// (with when it began; its parts' size is not listed), then, as
// "orphan-<name>", for every object under data/ that no marker names and
// no upload in progress wrote: tails that a later chunk replaced or whose
// upload was abandoned, content of a commit that failed half way. The
// Store removes them once they are older than an upload may sit idle.
func (d *Driver) Uploads(ctx context.Context, fn func(string, int64, time.Time) error) error {
	base := d.key("data") + "/"
	mpus, err := d.multipartUploads(ctx, base)
	if err != nil {
		return err
	}
	active := map[string]bool{}
	for _, u := range mpus {
		id, _, _ := strings.Cut(strings.TrimPrefix(aws.ToString(u.Key), base), ".")
		if storage.CheckUploadID(id) != nil || active[id] {
			continue
		}
		active[id] = true
		if err := fn(id, 0, aws.ToTime(u.Initiated)); err != nil {
			return err
		}
	}
	return d.orphans(ctx, active, fn)
}

// orphans calls fn for content under data/ that no upload in progress
// (active) wrote and no marker refers to.
func (d *Driver) orphans(ctx context.Context, active map[string]bool, fn func(string, int64, time.Time) error) error {
	candidates := map[string]types.Object{}
	base := d.key("data") + "/"
	err := d.list(ctx, base, func(o types.Object) error {
		name := strings.TrimPrefix(aws.ToString(o.Key), base)
		id, _, _ := strings.Cut(name, ".")
		if validObject(name) && !active[id] {
			candidates[name] = o
		}
		return nil
	})
	if err != nil || len(candidates) == 0 {
		return err
	}
	err = d.list(ctx, d.key("blobs")+"/", func(o types.Object) error {
		if m, ok := parseMarker(lastElem(aws.ToString(o.Key))); ok {
			delete(candidates, m.obj)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for name, o := range candidates {
		if err := fn(orphanPrefix+name, aws.ToInt64(o.Size), aws.ToTime(o.LastModified)); err != nil {
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
