package main

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"syscall"
)

// disk runs 20 containers of the image, each writing 1 KiB, with each of
// strata's snapshotters, and prints what they add to the disk: the
// containers' writable layers and their metadata, against the image's size.
func disk(ctx context.Context, bin, work, rootfs string) error {
	fmt.Println("\nDisk used by 20 stopped containers of one image that each wrote 1 KiB:")
	fmt.Println()
	fmt.Println("| snapshotter | image, unpacked | 20 containers add | per container |")
	fmt.Println("|---|---|---|---|")
	for _, sn := range []string{"overlay", "native"} {
		root := filepath.Join(work, "disk-"+sn)
		e := strataEngine(bin, root, sn)
		if out, err := e.cmd("import", rootfs, image).CombinedOutput(); err != nil {
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
		before, err := du(root)
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
		after, err := du(root)
		if err != nil {
			return err
		}
		fmt.Printf("| %s | %s | %s | %s |\n", sn, kib(imageSize), kib(after-before), kib((after-before)/20))
	}
	return nil
}

func kib(n int64) string { return fmt.Sprintf("%.1f KiB", float64(n)/1024) }

// du is the disk that the tree at dir takes: allocated blocks, each inode once.
func du(dir string) (int64, error) {
	var total int64
	seen := map[uint64]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
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
