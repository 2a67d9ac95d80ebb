package cli

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/strata-dev/strata/internal/build"
)

// buildProgress shows a build's steps. Plain, as BuildKit's plain output:
//
//	#2 [2/6] RUN echo hi
//	#2 0.105 hi
//	#2 DONE 0.3s
//
// On a terminal, one line a step, with the output of RUN steps under it.
// quiet shows only warnings and what a failing step printed.
type buildProgress struct {
	w      io.Writer
	tty    bool
	quiet  bool
	mu     sync.Mutex
	starts map[int]time.Time
	output map[int][]string // quiet: kept to show if the step fails
	last   int              // the step whose output was shown last
	open   bool             // tty: the current step's line has no newline yet
	start  time.Time
}

func stepName(e build.Event) string {
	if e.Stage != "" {
		return fmt.Sprintf("[%s %d/%d] %s", e.Stage, e.N, e.Of, e.Text)
	}
	return fmt.Sprintf("[%d/%d] %s", e.N, e.Of, e.Text)
}

func (p *buildProgress) event(e build.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.starts == nil {
		p.starts, p.output, p.start = map[int]time.Time{}, map[int][]string{}, time.Now()
	}
	if e.Kind == build.Warning {
		p.endLine()
		fmt.Fprintf(p.w, "WARNING: %s\n", e.Text)
		return
	}
	if p.quiet {
		if e.Kind == build.StepOutput {
			p.output[e.ID] = append(p.output[e.ID], e.Text)
		}
		p.last = e.ID
		return
	}
	if p.tty {
		p.terminal(e)
	} else {
		p.plain(e)
	}
}

func (p *buildProgress) plain(e build.Event) {
	switch e.Kind {
	case build.StepStart:
		p.starts[e.ID] = time.Now()
		fmt.Fprintf(p.w, "#%d %s\n", e.ID, stepName(e))
	case build.StepOutput:
		fmt.Fprintf(p.w, "#%d %.3f %s\n", e.ID, time.Since(p.starts[e.ID]).Seconds(), e.Text)
	case build.StepCached:
		fmt.Fprintf(p.w, "#%d CACHED\n\n", e.ID)
	case build.StepDone:
		fmt.Fprintf(p.w, "#%d DONE %.1fs\n\n", e.ID, e.Elapsed.Seconds())
	case build.Writing:
		fmt.Fprintf(p.w, "#%d %s done\n", e.ID, e.Text)
	}
	p.last = e.ID
}

func (p *buildProgress) terminal(e build.Event) {
	switch e.Kind {
	case build.StepStart:
		p.endLine()
		fmt.Fprintf(p.w, " => %s", stepName(e))
		p.open, p.last = true, e.ID
	case build.StepOutput:
		p.endLine()
		fmt.Fprintf(p.w, "    %s\n", e.Text)
	case build.StepCached:
		if p.open {
			fmt.Fprint(p.w, "\r\x1b[K")
			p.open = false
		}
		fmt.Fprintf(p.w, " => CACHED %s\n", stepName(e))
	case build.StepDone:
		if p.open {
			fmt.Fprintf(p.w, "  %.1fs\n", e.Elapsed.Seconds())
			p.open = false
		} else {
			fmt.Fprintf(p.w, " => %s  %.1fs\n", stepName(e), e.Elapsed.Seconds())
		}
	case build.Writing:
		p.endLine()
		fmt.Fprintf(p.w, " => %s\n", e.Text)
	}
}

// endLine ends the terminal's open step line.
func (p *buildProgress) endLine() {
	if p.open {
		fmt.Fprintln(p.w)
		p.open = false
	}
}

// finish closes the view; with -q, a failed step's output is shown then.
func (p *buildProgress) finish(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.endLine()
	if err != nil && p.quiet {
		if out := p.output[p.last]; len(out) > 0 {
			fmt.Fprintln(p.w, strings.Join(out, "\n"))
		}
	}
}
