package container

import (
	"archive/tar"
	"crypto/rand"
	"encoding/hex"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// writeInitLayer writes a layer of empty directories (names ending in "/")
// and files, owned by root.
func writeInitLayer(w io.Writer, names []string) error {
	tw := tar.NewWriter(w)
	epoch := time.Unix(0, 0)
	for _, n := range names {
		hdr := &tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: 0o644, ModTime: epoch}
		if strings.HasSuffix(n, "/") || n == "." {
			hdr.Typeflag, hdr.Mode = tar.TypeDir, 0o755
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
	}
	return tw.Close()
}

// processStart is when process pid started, in clock ticks since boot
// (field 22 of /proc/PID/stat): with the PID, it names one process for good.
func processStart(pid int) uint64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	// The command name (field 2) may hold spaces; the fields after it do not.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 20 {
		return 0
	}
	n, _ := strconv.ParseUint(fields[19], 10, 64)
	return n
}

// alive reports whether the process pid that started at start still runs.
func alive(pid int, start uint64) bool {
	return pid > 0 && start != 0 && processStart(pid) == start
}
