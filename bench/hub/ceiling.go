package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"

	"github.com/strata-dev/strata/internal/testutil/engines"
)

// ceilingPartSize and ceilingInFlight are how the store-alone push sends
// the big layers: 8 MiB parts, several at once across the four layers,
// with no registry and no hashing in the way.
const (
	ceilingPartSize = 8 << 20
	ceilingInFlight = 8
)

// storeCeiling times writing the big image's layers straight into
// SeaweedFS by multipart uploads, once per round: the most any registry
// on this store, on this machine, could push. A registry's big push can
// only approach it.
func storeCeiling(ctx context.Context, weed *engines.SeaweedFS, data *dataset, rounds int) ([]time.Duration, error) {
	layers, err := data.big.Layers()
	if err != nil {
		return nil, err
	}
	var blobs [][]byte
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
		blobs = append(blobs, b)
	}
	bucket, err := weed.NewBucket(ctx, "ceiling")
	if err != nil {
		return nil, err
	}
	c := weed.Client()
	var times []time.Duration
	for round := range rounds {
		start := time.Now()
		g, gctx := errgroup.WithContext(ctx)
		slots := make(chan struct{}, ceilingInFlight)
		for i, b := range blobs {
			g.Go(func() error {
				return putMultipart(gctx, c, bucket, fmt.Sprintf("r%d/layer%d", round, i), b, slots)
			})
		}
		if err := g.Wait(); err != nil {
			return nil, fmt.Errorf("the store alone: %w", err)
		}
		times = append(times, time.Since(start))
	}
	return times, nil
}

// noChecksums leaves out the SDK's own checksum of each part, as the
// store does not ask for one: the client's CPU is the store's to use.
func noChecksums(o *s3.Options) {
	o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
}

// putMultipart writes b as key by a multipart upload, each part taking
// one of slots while it is sent.
func putMultipart(ctx context.Context, c *s3.Client, bucket, key string, b []byte, slots chan struct{}) error {
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key})
	if err != nil {
		return err
	}
	parts := make([]s3types.CompletedPart, (len(b)+ceilingPartSize-1)/ceilingPartSize)
	g, gctx := errgroup.WithContext(ctx)
	for i := range parts {
		chunk := b[i*ceilingPartSize : min(len(b), (i+1)*ceilingPartSize)]
		g.Go(func() error {
			slots <- struct{}{}
			defer func() { <-slots }()
			n := int32(i + 1)
			out, err := c.UploadPart(gctx, &s3.UploadPartInput{Bucket: &bucket, Key: &key, UploadId: up.UploadId,
				PartNumber: &n, Body: bytes.NewReader(chunk), ContentLength: aws.Int64(int64(len(chunk)))}, noChecksums)
			if err != nil {
				return err
			}
			parts[i] = s3types.CompletedPart{ETag: out.ETag, PartNumber: &n}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: &key, UploadId: up.UploadId,
		MultipartUpload: &s3types.CompletedMultipartUpload{Parts: parts}})
	return err
}
