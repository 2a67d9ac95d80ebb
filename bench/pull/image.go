package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-dev/strata/internal/image"
	"github.com/strata-dev/strata/internal/remote"
)

// dataset is the image every tool pulls: layers of many small text-like
// files (they compress about as source trees and packages do), made from a
// fixed seed so that runs are comparable.
type dataset struct {
	layers   [][]byte // gzip blobs
	diffIDs  []digest.Digest
	config   []byte
	manifest []byte
	files    int
	tarBytes int64
}

func (d *dataset) compressed() int64 {
	var n int64
	for _, l := range d.layers {
		n += int64(len(l))
	}
	return n
}

// generate makes layers of about layerBytes of files each.
func generate(layers int, layerBytes int64) (*dataset, error) {
	rng := rand.New(rand.NewPCG(4, 2))
	words := make([]string, 2048)
	for i := range words {
		b := make([]byte, 2+rng.IntN(9))
		for j := range b {
			b[j] = byte('a' + rng.IntN(26))
		}
		words[i] = string(b)
	}
	d := &dataset{}
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cfg := image.Config{Created: &created, OS: "linux", Architecture: "amd64", RootFS: ocispec.RootFS{Type: "layers"},
		Config: image.ContainerConfig{Cmd: []string{"/bin/sh"}}}
	for l := range layers {
		var tarball bytes.Buffer
		tw := tar.NewWriter(&tarball)
		var written int64
		for f := 0; written < layerBytes; f++ {
			var body strings.Builder
			size := 512 + rng.IntN(16<<10)
			for body.Len() < size {
				body.WriteString(words[rng.IntN(len(words))])
				body.WriteByte(" \n"[rng.IntN(2)])
			}
			name := fmt.Sprintf("layer%d/dir%03d/file%05d.txt", l, f/100, f)
			hdr := &tar.Header{Name: name, Mode: 0o644, Size: int64(body.Len()), ModTime: created, Typeflag: tar.TypeReg}
			if err := tw.WriteHeader(hdr); err != nil {
				return nil, err
			}
			tw.Write([]byte(body.String()))
			written += int64(body.Len())
			d.files++
		}
		if err := tw.Close(); err != nil {
			return nil, err
		}
		d.tarBytes += written
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(tarball.Bytes())
		zw.Close()
		d.layers = append(d.layers, gz.Bytes())
		d.diffIDs = append(d.diffIDs, digest.FromBytes(tarball.Bytes()))
		cfg.History = append(cfg.History, image.History{Created: &created, CreatedBy: fmt.Sprintf("/bin/sh -c add layer %d", l)})
	}
	cfg.RootFS.DiffIDs = d.diffIDs
	var err error
	if d.config, err = json.Marshal(cfg); err != nil {
		return nil, err
	}
	m := image.Manifest{MediaType: image.MediaTypeDockerManifest, Config: desc(image.MediaTypeDockerConfig, d.config)}
	m.SchemaVersion = 2
	for _, l := range d.layers {
		m.Layers = append(m.Layers, desc(image.MediaTypeDockerLayer, l))
	}
	d.manifest, err = json.Marshal(m)
	return d, err
}

func desc(mediaType string, b []byte) image.Descriptor {
	return image.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
}

// push uploads the dataset as repository:tag, as Docker schema2 (what every
// tool reads).
func (d *dataset) push(ctx context.Context, addr, repository, tag string) error {
	repo := remote.New(remote.Options{}).Repository(addr, repository, remote.Push)
	blobs := append([][]byte{d.config}, d.layers...)
	types := []string{image.MediaTypeDockerConfig}
	for range d.layers {
		types = append(types, image.MediaTypeDockerLayer)
	}
	for i, b := range blobs {
		if err := repo.PushBlob(ctx, desc(types[i], b), bytes.NewReader(b), remote.PushOptions{}); err != nil {
			return err
		}
	}
	_, err := repo.PushManifest(ctx, tag, image.MediaTypeDockerManifest, d.manifest)
	return err
}
