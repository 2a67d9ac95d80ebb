package main

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	_ "crypto/sha256" // go-digest hashes with it
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/opencontainers/go-digest"
)

// benchImage is an image to write into a docker-save archive: its layers
// (uncompressed tars) and tags.
type benchImage struct {
	layers [][]byte
	tags   []string
	id     int
}

// layerTar is a layer holding one file.
func layerTar(name string, body []byte) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg,
		ModTime: time.Unix(1700000000, 0)})
	tw.Write(body)
	tw.Close()
	return buf.Bytes()
}

// sharingImages are 10 images over one 50 MiB base layer of random
// (incompressible) bytes, each with a small layer of its own.
func sharingImages() []benchImage {
	base := make([]byte, 50<<20)
	rand.Read(base)
	baseLayer := layerTar("base.bin", base)
	var out []benchImage
	for i := 0; i < 10; i++ {
		own := layerTar("own.txt", []byte(fmt.Sprintf("image %d\n", i)))
		out = append(out, benchImage{layers: [][]byte{baseLayer, own}, tags: []string{fmt.Sprintf("bench/shared-%d:1", i)}, id: i})
	}
	return out
}

// manyImages are n small images of one layer each, with three history steps.
func manyImages(n int) []benchImage {
	var out []benchImage
	for i := 0; i < n; i++ {
		l := layerTar("etc/id", []byte(fmt.Sprintf("image %d\n", i)))
		out = append(out, benchImage{layers: [][]byte{l}, tags: []string{fmt.Sprintf("bench/img-%d:1", i)}, id: i})
	}
	return out
}

func config(img benchImage) []byte {
	var diffIDs []digest.Digest
	for _, l := range img.layers {
		diffIDs = append(diffIDs, digest.FromBytes(l))
	}
	created := time.Unix(1700000000+int64(img.id), 0).UTC()
	history := []map[string]any{
		{"created": created, "created_by": "/bin/sh -c #(nop) ADD file:base in /"},
		{"created": created, "created_by": "/bin/sh -c #(nop)  ENV N=" + fmt.Sprint(img.id), "empty_layer": true},
		{"created": created, "created_by": "/bin/sh -c #(nop)  CMD [\"sh\"]", "empty_layer": true},
	}
	for range img.layers[1:] {
		history = append(history, map[string]any{"created": created, "created_by": "/bin/sh -c #(nop) COPY file:own in /"})
	}
	b, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux", "created": created,
		"config":  map[string]any{"Env": []string{"PATH=/bin", fmt.Sprintf("N=%d", img.id)}, "Cmd": []string{"sh"}},
		"rootfs":  map[string]any{"type": "layers", "diff_ids": diffIDs},
		"history": history,
	})
	return b
}

// writeArchive writes images as `docker save` does: configs, layer tars
// (each once), manifest.json.
func writeArchive(path string, images []benchImage) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	add := func(name string, b []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := io.Copy(tw, bytes.NewReader(b))
		return err
	}
	var manifest []map[string]any
	written := map[digest.Digest]bool{}
	for _, img := range images {
		cb := config(img)
		cname := digest.FromBytes(cb).Encoded() + ".json"
		if err := add(cname, cb); err != nil {
			return err
		}
		var paths []string
		for _, l := range img.layers {
			d := digest.FromBytes(l)
			p := d.Encoded() + "/layer.tar"
			paths = append(paths, p)
			if !written[d] {
				written[d] = true
				if err := add(p, l); err != nil {
					return err
				}
			}
		}
		manifest = append(manifest, map[string]any{"Config": cname, "RepoTags": img.tags, "Layers": paths})
	}
	mb, _ := json.Marshal(manifest)
	if err := add("manifest.json", mb); err != nil {
		return err
	}
	return tw.Close()
}
