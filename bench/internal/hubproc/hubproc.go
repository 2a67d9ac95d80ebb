// Package hubproc starts a `strata hub serve` for a benchmark and stops it.
package hubproc

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"time"
)

// Hub is a running `strata hub serve`.
type Hub struct{ cmd *exec.Cmd }

// Start runs `BIN hub serve --addr ADDR ARGS...`, its output appended to
// logPath, and waits (up to 10 s) until its registry API answers.
func Start(ctx context.Context, bin, logPath, addr string, args ...string) (*Hub, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, append([]string{"hub", "serve", "--addr", addr}, args...)...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, err
	}
	log.Close() // the child has its own copy
	for range 100 {
		if resp, err := http.Get("http://" + addr + "/v2/"); err == nil {
			resp.Body.Close()
			return &Hub{cmd}, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	return nil, fmt.Errorf("the hub at %s did not start (see %s)", addr, logPath)
}

// Stop interrupts the hub, as Ctrl-C would, and waits for it to exit.
func (h *Hub) Stop() {
	h.cmd.Process.Signal(os.Interrupt)
	h.cmd.Wait()
}
