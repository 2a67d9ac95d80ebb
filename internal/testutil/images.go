package testutil

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// RandomLayer is a layer of size random bytes.
func RandomLayer(size int) v1.Layer {
	b := make([]byte, size)
	rand.Read(b)
	return static.NewLayer(b, types.OCILayer)
}

// ReadLayer is a layer's compressed bytes.
func ReadLayer(l v1.Layer) ([]byte, error) {
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// SameImage checks that what a registry serves under ref is img, byte
// for byte: the manifest, the config and every layer.
func SameImage(ref string, img v1.Image, opts ...remote.Option) error {
	r, err := name.ParseReference(ref)
	if err != nil {
		return err
	}
	got, err := remote.Image(r, opts...)
	if err != nil {
		return err
	}
	for _, part := range []func(v1.Image) ([]byte, error){(v1.Image).RawManifest, (v1.Image).RawConfigFile} {
		a, err1 := part(img)
		b, err2 := part(got)
		if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
			return fmt.Errorf("manifest or config differ (%v, %v)", err1, err2)
		}
	}
	layers, _ := img.Layers()
	for _, l := range layers {
		d, _ := l.Digest()
		served, err := got.LayerByDigest(d)
		if err != nil {
			return err
		}
		a, _ := ReadLayer(l)
		b, err := ReadLayer(served)
		if err != nil || !bytes.Equal(a, b) {
			return fmt.Errorf("layer %s differs: %v", d, err)
		}
	}
	return nil
}

// PullAll fetches an image's manifest, config and every layer, each
// verified against its digest as go-containerregistry reads it.
func PullAll(r name.Reference, opts ...remote.Option) error {
	img, err := remote.Image(r, opts...)
	if err != nil {
		return err
	}
	if _, err := img.RawConfigFile(); err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
