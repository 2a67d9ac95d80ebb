package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"syscall"
)

// disk runs 20 containers of the image, each writing 1 KiB, with each of
// strata's snapshotters, and prints what they add to the disk: the
// containers' writable layers and their metadata, against the image's size.
func disk(ctx context.Context, bin, work, base string) error {
	fmt.Println("\nDisk used by 20 stopped containers of one image that each wrote 1 KiB:")
	fmt.Println()
	fmt.Println("| snapshotter | image, unpacked | 20 containers add | of which writable layers | container files | store database |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, sn := range []string{"overlay", "native"} {
		root := filepath.Join(work, "disk-"+sn)
		e := strataEngine(bin, root, sn)
		if out, err := e.cmd("import", base, image).CombinedOutput(); err != nil {
			return fmt.Errorf("import: %v\n%s", err, out)
		}
		// The image and its init layer are unpacked by the first container.
		if out, err := e.cmd("run", "--rm", image, "true").CombinedOutput(); err != nil {
			return fmt.Errorf("run: %v\n%s", err, out)
		}
		imageSize, err := du(filepath.Join(root, "snapshots"))
		if err != nil {
			return err
		}
		before, err := usage(root)
		if err != nil {
			return err
		}
		for i := range 20 {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			out, err := e.cmd("run", "--name", fmt.Sprintf("c%d", i), image, "sh", "-c", "head -c 1024 /dev/urandom > /data").CombinedOutput()
			if err != nil {
				return fmt.Errorf("run: %v\n%s", err, out)
			}
		}
		after, err := usage(root)
		if err != nil {
			return err
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %s |\n", sn, kib(imageSize), kib(after.total-before.total),
			kib(after.snapshots-before.snapshots), kib(after.containers-before.containers), kib(after.db-before.db))
	}
	return nil
}

// parts is a store root's disk, in its parts.
type parts struct{ total, snapshots, containers, db int64 }

func usage(root string) (parts, error) {
	var p parts
	var err error
	for _, x := range []struct {
		n   *int64
		dir string
	}{{&p.total, root}, {&p.snapshots, filepath.Join(root, "snapshots")}, {&p.containers, filepath.Join(root, "containers")}} {
		if *x.n, err = du(x.dir); err != nil {
			return p, err
		}
	}
	for _, f := range []string{"strata.db", "strata.db-wal", "strata.db-shm"} {
		n, _ := du(filepath.Join(root, f))
		p.db += n
	}
	return p, nil
}

func kib(n int64) string { return fmt.Sprintf("%.1f KiB", float64(n)/1024) }

// du is the disk that the tree at dir takes: allocated blocks, each inode once.
func du(dir string) (int64, error) {
	var total int64
	seen := map[uint64]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) { // gone while running containers change their files
			return nil
		}
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		if !seen[st.Ino] {
			seen[st.Ino] = true
			total += st.Blocks * 512
		}
		return nil
	})
	return total, err
}
