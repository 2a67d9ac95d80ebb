// Package build builds images from Dockerfiles on the local store, with a
// layer cache.
//
// The Dockerfile is parsed with BuildKit's parser and its instructions
// package (the field's standard); this package runs what they describe, as
// Docker's classic builder does, without a daemon: each RUN in a throwaway
// container on the layers made so far (package runtime/container), each
// COPY, ADD and WORKDIR on a writable snapshot of them, each other
// instruction on the image config alone. A step that changed files becomes
// a gzip layer; history entries read as Docker writes them
// ("/bin/sh -c #(nop)  ENV A=b", empty_layer for steps without files).
//
// The cache: a step's key is the digest of its inputs: the config and the
// chainID it starts from, the instruction after variable expansion, the
// build args it sees, and for COPY and ADD the digest of the files' contents
// and metadata. Its value is the config after the step and the layer it
// made, kept in the store (store.PutCache) across processes, with their
// blobs, until `strata builder prune`. A build whose steps all hit makes the
// same image again and runs nothing.
package build

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/distribution/reference"

	"github.com/strata-dev/strata/internal/build/remotecache"
	"github.com/strata-dev/strata/internal/image"
	"github.com/strata-dev/strata/internal/store"
)

// Options say what to build and how.
type Options struct {
	// ContextDir is the build context: the directory COPY and ADD read
	// from. "" when there is none (a Dockerfile on standard input).
	ContextDir string
	Dockerfile []byte // its text
	// Dockerignore, when not nil, replaces the context's .dockerignore: the
	// Dockerfile's own NAME.dockerignore, as BuildKit reads it.
	Dockerignore []byte
	Tags         []reference.NamedTagged
	BuildArgs    map[string]string // --build-arg
	Target       string            // --target: the stage to build; "" for the last
	NoCache      bool              // --no-cache: run every step (and cache the results)
	Pull         bool              // --pull: pull FROM images even when stored
	Platform     image.Platform    // --platform; zero for this machine's
	Labels       map[string]string // --label: added to the image as a last LABEL
	// Network is RUN steps' network unless RUN --network says otherwise:
	// "default" (or ""; the isolated default network), "none" or "host".
	Network string
	// Allow holds the entitlements granted (--allow): "network.host" lets a
	// RUN --network=host step use the host's network.
	Allow   []string
	Secrets Secrets           // --secret: what RUN --mount=type=secret mounts
	SSH     map[string]string // --ssh: an id's agent socket, for RUN --mount=type=ssh
	// AddHosts are NAME:IP entries RUN steps find in /etc/hosts (--add-host).
	AddHosts []string
	// MaxDownload bounds what one ADD <URL> downloads; 0 for
	// DefaultMaxDownload.
	MaxDownload int64
	// Pull, when set, fetches an image that FROM names and the store
	// lacks (or every time with Pull).
	PullImage func(ctx context.Context, ref reference.Named, p image.Platform) (store.Image, error)
	// Progress, when set, hears about each step as it runs.
	Progress func(Event)
	// Snapshotter is the one containers use: "overlay", "native", or ""
	// for the store's (see snapshot.Open).
	Snapshotter string
	Log         *slog.Logger
}

func (o *Options) maxDownload() int64 {
	if o.MaxDownload > 0 {
		return o.MaxDownload
	}
	return DefaultMaxDownload
}

// EventKind is what happened to a step.
type EventKind int

const (
	StepStart  EventKind = iota + 1 // the step begins
	StepOutput                      // Text is output of a RUN step (a whole line)
	StepCached                      // the step's result came from the cache
	StepDone                        // the step ran; Elapsed says how long
	Warning                         // Text is a warning about the build
	Writing                         // the image is being stored; Text says what
)

// Event is a step's progress, for the command line to show.
type Event struct {
	Kind    EventKind
	ID      int    // numbers the steps of the build, from 1
	Stage   string // the stage's name or "stage-N"; "" for a single-stage build
	N, Of   int    // the step's place in its stage: [N/Of]
	Text    string // the instruction ("RUN echo hi"), or a line of output
	Stream  int    // 1 stdout, 2 stderr, for StepOutput
	Elapsed time.Duration
}

// Result is what a build made.
type Result struct {
	Image  store.Image
	Steps  int // steps run or taken from the cache
	Cached int // of those, taken from the cache
	// Records are the steps of the stages built, in order, as --cache-to
	// exports them.
	Records []remotecache.Record
}

// StepError is a RUN step that failed: its command and exit status, as
// Docker reports it.
type StepError struct {
	Command string
	Code    int
}

func (e *StepError) Error() string {
	return "The command '" + e.Command + "' returned a non-zero code: " + strconv.Itoa(e.Code)
}

// lineWriter splits what a step writes into lines, one event each.
type lineWriter struct {
	emit func(line string)
	buf  []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

// flush emits what is left after the last newline.
func (w *lineWriter) flush() {
	if len(w.buf) > 0 {
		w.emit(string(w.buf))
		w.buf = nil
	}
}

var _ io.Writer = (*lineWriter)(nil)
