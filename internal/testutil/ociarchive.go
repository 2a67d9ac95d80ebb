package testutil

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// EachTarEntry calls fn with each entry of the tar file at p and its body.
func EachTarEntry(t testing.TB, p string, fn func(hdr *tar.Header, body []byte)) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		fn(hdr, body)
	}
}

// ImageFile is what a comparison of two images sees of a file: its type,
// mode, owner, size, link target and content digest (not its times).
type ImageFile struct {
	Type     byte
	Mode     int64
	UID, GID int
	Size     int64
	Link     string
	Digest   string
}

func (f ImageFile) String() string {
	return fmt.Sprintf("type=%c mode=%o owner=%d:%d size=%d link=%q %s", f.Type, f.Mode, f.UID, f.GID, f.Size, f.Link, f.Digest)
}

// OCIImage is an image read from an OCI layout tar: its config and the
// files of its layers applied in order (whiteouts honoured).
type OCIImage struct {
	Config []byte
	Files  map[string]ImageFile
}

// ReadOCIArchive reads the first image of the OCI layout tar at p (the
// first manifest of an index in the index).
func ReadOCIArchive(t testing.TB, p string) OCIImage {
	t.Helper()
	blobs := map[string][]byte{}
	EachTarEntry(t, p, func(hdr *tar.Header, body []byte) {
		blobs[strings.TrimPrefix(hdr.Name, "./")] = body
	})
	blob := func(d ocispec.Descriptor) []byte {
		b, ok := blobs["blobs/"+d.Digest.Algorithm().String()+"/"+d.Digest.Encoded()]
		if !ok {
			t.Fatalf("%s: blob %s is missing", p, d.Digest)
		}
		return b
	}
	var idx ocispec.Index
	if err := json.Unmarshal(blobs["index.json"], &idx); err != nil || len(idx.Manifests) == 0 {
		t.Fatalf("%s: index.json: %v", p, err)
	}
	desc := idx.Manifests[0]
	for desc.MediaType == ocispec.MediaTypeImageIndex || strings.Contains(desc.MediaType, "manifest.list") {
		var inner ocispec.Index
		json.Unmarshal(blob(desc), &inner)
		desc = inner.Manifests[0]
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(blob(desc), &m); err != nil {
		t.Fatalf("%s: manifest: %v", p, err)
	}
	img := OCIImage{Config: blob(m.Config), Files: map[string]ImageFile{}}
	for _, l := range m.Layers {
		applyLayer(t, img.Files, blob(l))
	}
	return img
}

// applyLayer applies a layer (gzip or not) to files, as an unpacker does.
func applyLayer(t testing.TB, files map[string]ImageFile, b []byte) {
	var r io.Reader = strings.NewReader(string(b))
	if zr, err := gzip.NewReader(strings.NewReader(string(b))); err == nil {
		r = zr
	}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		name := path.Clean("/" + hdr.Name)
		dir, base := path.Split(name)
		if base == ".wh..wh..opq" {
			for k := range files {
				if strings.HasPrefix(k, dir) {
					delete(files, k)
				}
			}
			continue
		}
		if strings.HasPrefix(base, ".wh.") {
			gone := path.Join(dir, strings.TrimPrefix(base, ".wh."))
			for k := range files {
				if k == gone || strings.HasPrefix(k, gone+"/") {
					delete(files, k)
				}
			}
			continue
		}
		h := sha256.New()
		io.Copy(h, tr)
		typ := hdr.Typeflag
		if typ == tar.TypeRegA {
			typ = tar.TypeReg
		}
		fi := ImageFile{Type: typ, Mode: hdr.Mode & 0o7777, UID: hdr.Uid, GID: hdr.Gid, Link: hdr.Linkname}
		if typ == tar.TypeReg {
			fi.Size, fi.Digest = hdr.Size, fmt.Sprintf("%x", h.Sum(nil))
		}
		if typ == tar.TypeLink { // a hard link compares as the file it names
			fi = files[path.Clean("/"+hdr.Linkname)]
		}
		files[name] = fi
	}
}
