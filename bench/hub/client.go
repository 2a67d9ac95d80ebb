package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
)

const (
	bigLayers    = 4
	bigLayerSize = 64 << 20
	smallImages  = 400
	smallLayer   = 4 << 10
	clients      = 8
)

// dataset is the content pushed: made once, the same for both registries.
type dataset struct {
	big   v1.Image
	small []v1.Image
}

func (d *dataset) bigBytes() int64 { return bigLayers * bigLayerSize }

func generate() (*dataset, error) {
	layer := func(size int) (v1.Layer, error) {
		b := make([]byte, size)
		rand.Read(b) // random: incompressible, unique
		l := static.NewLayer(b, types.OCILayer)
		_, err := l.Digest() // hash now, not while timing
		return l, err
	}
	var ls []v1.Layer
	for range bigLayers {
		l, err := layer(bigLayerSize)
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
	}
	big, err := mutate.AppendLayers(empty.Image, ls...)
	if err != nil {
		return nil, err
	}
	d := &dataset{big: big}
	for range smallImages {
		l, err := layer(smallLayer)
		if err != nil {
			return nil, err
		}
		img, err := mutate.AppendLayers(empty.Image, l)
		if err != nil {
			return nil, err
		}
		if _, err := img.Digest(); err != nil {
			return nil, err
		}
		d.small = append(d.small, img)
	}
	_, err = d.big.Digest()
	return d, err
}

// client drives one registry; uploads counts upload sessions opened
// (POST .../blobs/uploads/), which is how blobs are sent.
type client struct {
	addr    string
	tr      http.RoundTripper
	uploads atomic.Int64
}

func newClient(addr string) *client {
	c := &client{addr: addr}
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.MaxIdleConnsPerHost = 64
	c.tr = countingTransport{base: base, c: c}
	return c
}

type countingTransport struct {
	base http.RoundTripper
	c    *client
}

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/blobs/uploads/") && r.URL.Query().Get("mount") == "" {
		t.c.uploads.Add(1)
	}
	return t.base.RoundTrip(r)
}

func (c *client) ref(s string) (name.Reference, error) { return name.ParseReference(c.addr + "/" + s) }

// pushBig pushes the big image as ref, returning the time and the uploads it took.
func (c *client) pushBig(ref string, d *dataset) (time.Duration, int, error) {
	r, err := c.ref(ref)
	if err != nil {
		return 0, 0, err
	}
	before := c.uploads.Load()
	start := time.Now()
	if err := remote.Write(r, d.big, remote.WithTransport(c.tr)); err != nil {
		return 0, 0, fmt.Errorf("push %s: %w", ref, err)
	}
	return time.Since(start), int(c.uploads.Load() - before), nil
}

// each runs fn for every small image, spread over the concurrent clients,
// each client with its own pusher or puller (its own connections).
func (c *client) each(ctx context.Context, fn func(i int, opt remote.Option) error, newOpt func() (remote.Option, error)) (time.Duration, error) {
	start := time.Now()
	g, ctx := errgroup.WithContext(ctx)
	next := atomic.Int64{}
	for range clients {
		opt, err := newOpt()
		if err != nil {
			return 0, err
		}
		g.Go(func() error {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= smallImages {
					return nil
				}
				if err := fn(i, opt); err != nil {
					return err
				}
			}
			return ctx.Err()
		})
	}
	err := g.Wait()
	return time.Since(start), err
}

func (c *client) pushSmall(ctx context.Context, repo string, d *dataset) (time.Duration, error) {
	return c.each(ctx, func(i int, opt remote.Option) error {
		r, err := c.ref(fmt.Sprintf("%s/img%d:1", repo, i))
		if err != nil {
			return err
		}
		return remote.Write(r, d.small[i], opt, remote.WithContext(ctx))
	}, func() (remote.Option, error) {
		p, err := remote.NewPusher(remote.WithTransport(c.tr))
		return remote.Reuse(p), err
	})
}

func (c *client) pullSmall(ctx context.Context, repo string, d *dataset) (time.Duration, error) {
	return c.each(ctx, func(i int, opt remote.Option) error {
		r, err := c.ref(fmt.Sprintf("%s/img%d:1", repo, i))
		if err != nil {
			return err
		}
		return pull(r, opt, remote.WithContext(ctx))
	}, func() (remote.Option, error) {
		p, err := remote.NewPuller(remote.WithTransport(c.tr))
		return remote.Reuse(p), err
	})
}

func (c *client) pullBig(ref string) (time.Duration, error) {
	r, err := c.ref(ref)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	err = pull(r, remote.WithTransport(c.tr))
	return time.Since(start), err
}

// pull fetches a manifest, its config and every layer, in parallel, each
// verified against its digest by the client as it reads.
func pull(r name.Reference, opts ...remote.Option) error {
	img, err := remote.Image(r, opts...)
	if err != nil {
		return fmt.Errorf("pull %s: %w", r, err)
	}
	if _, err := img.RawConfigFile(); err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	var g errgroup.Group
	for _, l := range layers {
		g.Go(func() error {
			rc, err := l.Compressed()
			if err != nil {
				return err
			}
			defer rc.Close()
			_, err = io.Copy(io.Discard, rc)
			return err
		})
	}
	return g.Wait()
}
