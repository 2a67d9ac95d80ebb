package runtime

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/strata-dev/strata/internal/errdefs"
)

// Runc is the runc binary with strata's own state directory, apart from
// Docker's and podman's.
type Runc struct {
	Bin  string // the runc program
	Root string // runc --root: where runc keeps container state
}

// FindRunc finds runc on PATH, or says how to install it.
func FindRunc(stateDir string) (*Runc, error) {
	bin, err := exec.LookPath("runc")
	if err != nil {
		for _, p := range []string{"/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc"} {
			if _, serr := os.Stat(p); serr == nil {
				bin, err = p, nil
				break
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("runc is not installed; strata runs containers with it: install it with "+
			"`apt-get install runc` (Debian, Ubuntu) or `dnf install runc` (Fedora): %w", errdefs.ErrUnavailable)
	}
	return &Runc{Bin: bin, Root: stateDir}, nil
}

// Command is an unstarted runc command; logFile, when set, gets runc's own
// log as JSON lines.
func (r *Runc) Command(logFile string, args ...string) *exec.Cmd {
	global := []string{"--root", r.Root}
	if logFile != "" {
		global = append(global, "--log", logFile, "--log-format", "json")
	}
	return exec.Command(r.Bin, append(global, args...)...)
}

// RunArgs are the arguments of `runc run` for the bundle in dir; runc
// writes the container's PID to PidFile(bundle) once it runs.
func RunArgs(id, bundle string) []string {
	return []string{"run", "--bundle", bundle, "--pid-file", PidFile(bundle), id}
}

// PidFile is where runc writes the PID of the container's first process.
func PidFile(bundle string) string { return filepath.Join(bundle, "pid") }

// Kill sends sig to the container's first process.
func (r *Runc) Kill(ctx context.Context, id string, sig syscall.Signal) error {
	return r.quiet(ctx, "kill", id, fmt.Sprint(int(sig)))
}

// Known reports whether runc keeps the state of container id: one that
// `runc run` left behind only when it did not exit on its own (it deletes
// a container it ran in the foreground as it exits).
func (r *Runc) Known(id string) bool {
	_, err := os.Lstat(filepath.Join(r.Root, id))
	return err == nil
}

// Delete forgets a container that runc still knows, killing it if needed.
// A state directory with no state.json (a runc killed while it created
// the container) is one runc cannot delete; it is removed here.
func (r *Runc) Delete(ctx context.Context, id string) error {
	err := r.quiet(ctx, "delete", "--force", id)
	if err != nil {
		dir := filepath.Join(r.Root, id)
		if _, serr := os.Stat(filepath.Join(dir, "state.json")); errors.Is(serr, fs.ErrNotExist) {
			if rerr := os.RemoveAll(dir); rerr == nil {
				return nil
			}
		}
	}
	return err
}

// State is what runc says about a container: "running", "stopped", ...;
// "" when runc does not know it.
func (r *Runc) State(ctx context.Context, id string) (status string, pid int, err error) {
	cmd := r.Command("", "state", id)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		if strings.Contains(stderr.String(), "does not exist") {
			return "", 0, nil
		}
		return "", 0, fmt.Errorf("runc state %s: %s", id, strings.TrimSpace(stderr.String()))
	}
	var st struct {
		Status string `json:"status"`
		Pid    int    `json:"pid"`
	}
	if err := json.Unmarshal(out.Bytes(), &st); err != nil {
		return "", 0, fmt.Errorf("runc state %s: %w", id, err)
	}
	return st.Status, st.Pid, nil
}

// Run runs a runc command that prints nothing on success.
func (r *Runc) Run(ctx context.Context, args ...string) error { return r.quiet(ctx, args...) }

// Output runs a runc command and returns what it printed.
func (r *Runc) Output(ctx context.Context, args ...string) (string, error) {
	cmd := r.Command("", args...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("runc %s: %s", args[0], strings.TrimSpace(stderr.String()))
	}
	return out.String(), nil
}

func (r *Runc) quiet(ctx context.Context, args ...string) error {
	cmd := r.Command("", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("runc %s: %s", args[0], strings.TrimSpace(stderr.String()))
	}
	return nil
}

// RuncFailure reads runc's JSON log and returns the last error runc logged,
// or nil: a non-zero exit with such an error is runc's failure, not the
// container's exit status.
func RuncFailure(logFile string) error {
	f, err := os.Open(logFile)
	if err != nil {
		return nil
	}
	defer f.Close()
	var last string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var line struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && (line.Level == "error" || line.Level == "fatal") {
			last = line.Msg
		}
	}
	if last == "" {
		return nil
	}
	return errors.New("runc: " + last)
}

// StateDir is runc's state directory under a strata root.
func StateDir(root string) string { return filepath.Join(root, "runc") }
