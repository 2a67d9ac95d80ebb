package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-dev/strata/internal/errdefs"
)

func TestCleanName(t *testing.T) {
	cases := []struct {
		in, want string
		bad      bool
	}{
		{in: "bin/sh", want: "bin/sh"},
		{in: "./usr/bin/", want: "usr/bin"},
		{in: "/etc/passwd", want: "etc/passwd"},
		{in: "a/../b", want: "b"},
		{in: "a//b/./c", want: "a/b/c"},
		{in: "./", want: "."},
		{in: "../etc/passwd", bad: true},
		{in: "a/../../etc", bad: true},
		{in: "/../x", bad: true},
		{in: "..", bad: true},
		{in: "", bad: true},
		{in: "a\x00b", bad: true},
	}
	for _, c := range cases {
		got, err := CleanName(c.in)
		if c.bad {
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Errorf("CleanName(%q) = %q, %v; want an invalid-argument error", c.in, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("CleanName(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

// entry is one tar header and body for building test archives.
type entry struct {
	hdr  tar.Header
	body string
}

func tarOf(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.hdr
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, e.body)
	}
	tw.Close()
	return buf.Bytes()
}

func file(name, body string) entry {
	return entry{hdr: tar.Header{Name: name, Typeflag: tar.TypeReg}, body: body}
}

func TestCheckRefusesHostileTars(t *testing.T) {
	good := tarOf(t, entry{hdr: tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755}},
		file("bin/busybox", "binary"),
		entry{hdr: tar.Header{Name: "bin/sh", Typeflag: tar.TypeSymlink, Linkname: "/bin/busybox"}},
		entry{hdr: tar.Header{Name: "bin/ls", Typeflag: tar.TypeLink, Linkname: "bin/busybox"}},
		entry{hdr: tar.Header{Name: "etc/escape", Typeflag: tar.TypeSymlink, Linkname: "../../../../etc/shadow"}})
	cases := []struct {
		name string
		tar  []byte
		want string // part of the error; "" means it must pass
	}{
		{"a busybox-like layer", good, ""},
		{"dot-dot name", tarOf(t, file("../evil", "x")), "climbs out"},
		{"dot-dot deep", tarOf(t, file("a/b/../../../evil", "x")), "climbs out"},
		{"hard link out of the root", tarOf(t, entry{hdr: tar.Header{Name: "x", Typeflag: tar.TypeLink, Linkname: "../../etc/passwd"}}), "hard link"},
		{"truncated in a body", good[:512+3], "layer tar"},
		{"truncated between entries", good[:3*512], "truncated"},
		{"not a tar", []byte("this is not a tar archive at all, just some words\n"), "layer tar"},
		{"empty", nil, "no entries"},
		{"unknown type", tarOf(t, entry{hdr: tar.Header{Name: "x", Typeflag: 'Z'}}), "cannot hold"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Check(bytes.NewReader(c.tar))
			if c.want == "" {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("Check = %v; want an invalid-argument error containing %q", err, c.want)
			}
		})
	}
}

func TestWriteDir(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "bin"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "bin", "busybox"), []byte("#!binary"), 0o755))
	must(os.Symlink("busybox", filepath.Join(dir, "bin", "sh")))
	must(os.Link(filepath.Join(dir, "bin", "busybox"), filepath.Join(dir, "bin", "ls")))
	must(os.MkdirAll(filepath.Join(dir, "etc"), 0o700))
	must(os.WriteFile(filepath.Join(dir, "etc", "motd"), []byte("hello\n"), 0o644))

	var first, second bytes.Buffer
	must(WriteDir(context.Background(), &first, dir))
	must(WriteDir(context.Background(), &second, dir))
	if !bytes.Equal(first.Bytes(), second.Bytes()) {
		t.Fatal("WriteDir of the same tree gave different bytes")
	}
	must(Check(bytes.NewReader(first.Bytes())))

	var got []string
	tr := tar.NewReader(&first)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		must(err)
		line := string(hdr.Typeflag) + " " + hdr.Name
		if hdr.Linkname != "" {
			line += " -> " + hdr.Linkname
		}
		got = append(got, line)
		if hdr.Name == "etc/" && hdr.Mode&0o777 != 0o700 {
			t.Errorf("etc/ mode %o, want 700", hdr.Mode)
		}
		if hdr.Name == "etc/motd" {
			b, _ := io.ReadAll(tr)
			if string(b) != "hello\n" {
				t.Errorf("etc/motd body %q", b)
			}
		}
	}
	want := []string{"5 bin/", "0 bin/busybox", "1 bin/ls -> bin/busybox", "2 bin/sh -> busybox", "5 etc/", "0 etc/motd"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
