package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/strata-dev/strata/internal/remote/transfer"
)

// progressView draws pull and push progress as Docker does. On a terminal
// each blob has one line, redrawn in place (`Downloading [==>   ] 1.2MB/4MB`);
// otherwise each change of state is one plain line, without bars.
type progressView struct {
	out io.Writer
	tty bool

	mu    sync.Mutex
	ids   []string                  // lines, top to bottom
	state map[string]transfer.Event // each line's last event
	drawn map[string]time.Time      // when a byte-progress line was last drawn
}

// barInterval is how often a line with a moving bar is redrawn.
const barInterval = 100 * time.Millisecond

func newProgressView(out io.Writer) *progressView {
	return &progressView{out: out, tty: isTerminal(out), state: map[string]transfer.Event{}, drawn: map[string]time.Time{}}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Event takes one event; it is a transfer.Progress.
func (v *progressView) Event(e transfer.Event) {
	v.mu.Lock()
	defer v.mu.Unlock()
	prev, seen := v.state[e.ID]
	v.state[e.ID] = e
	moving := e.Action == transfer.Downloading || e.Action == transfer.Pushing
	if !v.tty {
		if !moving && (!seen || prev.Action != e.Action) {
			fmt.Fprintf(v.out, "%s: %s\n", e.ID, e.Text())
		}
		return
	}
	if !seen {
		v.ids = append(v.ids, e.ID)
		fmt.Fprintf(v.out, "%s\n", line(e))
		return
	}
	if moving && e.Current < e.Total && time.Since(v.drawn[e.ID]) < barInterval {
		return
	}
	v.drawn[e.ID] = time.Now()
	v.redraw(e.ID)
}

// redraw rewrites the line of id: up to it, clear, write, back down.
func (v *progressView) redraw(id string) {
	up := 0
	for i := len(v.ids) - 1; i >= 0 && v.ids[i] != id; i-- {
		up++
	}
	up++ // from the line below the last one
	fmt.Fprintf(v.out, "\x1b[%dA\r\x1b[2K%s\r\x1b[%dB", up, line(v.state[id]), up)
}

// line is an event as Docker shows it on a terminal.
func line(e transfer.Event) string {
	if (e.Action == transfer.Downloading || e.Action == transfer.Pushing) && e.Total > 0 {
		return fmt.Sprintf("%s: %-11s %s %8s/%s", e.ID, e.Action, bar(e.Current, e.Total), sizeString(e.Current, 4), sizeString(e.Total, 4))
	}
	return e.ID + ": " + e.Text()
}

// bar is Docker's 50-column progress bar.
func bar(current, total int64) string {
	const width = 50
	n := int(float64(current) / float64(total) * width)
	switch {
	case n >= width:
		return "[" + strings.Repeat("=", width) + "]"
	case n < 0:
		n = 0
	}
	return "[" + strings.Repeat("=", n) + ">" + strings.Repeat(" ", width-n-1) + "]"
}
