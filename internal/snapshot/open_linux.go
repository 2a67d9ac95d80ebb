package snapshot

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// Open opens the snapshotter that keeps snapshots under dir. name is
// "overlay", "native", or "" to use the one dir already uses, else overlay
// where it works here and native where it does not. The choice is kept in
// dir/driver, since snapshots made by one cannot be used by the other; a
// fall back to native is logged as a warning with overlayfs's reason.
func Open(dir, name string, log *slog.Logger) (Snapshotter, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("snapshots: %w", err)
	}
	chosen := filepath.Join(dir, "driver")
	if name == "" {
		b, err := os.ReadFile(chosen)
		switch {
		case err == nil:
			name = strings.TrimSpace(string(b))
		case errors.Is(err, fs.ErrNotExist):
			name = "overlay"
			if err := OverlaySupported(dir); err != nil {
				name = "native"
				if log != nil {
					log.Warn("overlayfs does not work here; containers use the copying snapshotter, which takes more disk and time",
						"dir", dir, "reason", err)
				}
			}
			// The choice sticks, since snapshots made by one kind cannot be read
			// by the other; but a process without root cannot mount overlays
			// even where they work, so its fallback is not written down.
			if name == "overlay" || os.Geteuid() == 0 {
				if err := os.WriteFile(chosen, []byte(name+"\n"), 0o644); err != nil {
					return nil, err
				}
			}
		default:
			return nil, err
		}
	}
	switch name {
	case "overlay":
		return NewOverlay(filepath.Join(dir, "overlay"))
	case "native":
		return NewNative(filepath.Join(dir, "native"))
	}
	return nil, fmt.Errorf("snapshotter %q: want overlay or native", name)
}
