// Package transfer moves images between a registry and the local store: the
// pull and push engines. They never move a layer twice: a pull skips a
// manifest that is already local and every layer whose diffID is already
// stored (whatever its compression), and resumes a download from the bytes
// it has; a push skips blobs the registry has, mounts blobs that another
// repository of the same registry holds, and uploads only the rest.
//
// Progress is reported as Events, one stream per blob, for the CLI to draw;
// nothing here prints.
package transfer

import (
	"github.com/opencontainers/go-digest"
)

// Action is what happened to a blob, worded as Docker words it.
type Action int

const (
	// Pull.
	PullingFSLayer Action = iota
	Waiting
	AlreadyExists
	Downloading
	Retrying
	Verifying
	DownloadComplete
	Extracting
	PullComplete
	// Push.
	Preparing
	LayerExists
	Pushing
	Pushed
	Mounted
)

var actionText = [...]string{
	PullingFSLayer: "Pulling fs layer", Waiting: "Waiting", AlreadyExists: "Already exists",
	Downloading: "Downloading", Retrying: "Retrying", Verifying: "Verifying Checksum",
	DownloadComplete: "Download complete", Extracting: "Extracting", PullComplete: "Pull complete",
	Preparing: "Preparing", LayerExists: "Layer already exists", Pushing: "Pushing", Pushed: "Pushed",
	Mounted: "Mounted from",
}

func (a Action) String() string {
	if int(a) < len(actionText) {
		return actionText[a]
	}
	return "unknown"
}

// Event is progress on one blob.
type Event struct {
	ID      string // the blob's short digest: 12 hex digits, as Docker shows it
	Digest  digest.Digest
	Action  Action
	Current int64  // bytes done, for Downloading and Pushing
	Total   int64  // bytes in all
	From    string // for Mounted: the repository it came from
}

// Text is the event as one line of Docker's plain output: "Pull complete",
// "Mounted from alice/base".
func (e Event) Text() string {
	if e.Action == Mounted {
		return "Mounted from " + e.From
	}
	return e.Action.String()
}

// Progress receives events; it may be called from several goroutines at once.
type Progress func(Event)

func (p Progress) send(d digest.Digest, a Action, current, total int64) {
	if p != nil {
		p(Event{ID: ShortID(d), Digest: d, Action: a, Current: current, Total: total})
	}
}

// ShortID is how Docker names a blob in progress output.
func ShortID(d digest.Digest) string {
	e := d.Encoded()
	if len(e) > 12 {
		e = e[:12]
	}
	return e
}
