package container

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// logLine is one line of container.log, in Docker's json-file format.
type logLine struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

// logFile appends a container's output to its log, a line at a time.
type logFile struct {
	mu sync.Mutex
	f  *os.File
}

func openLog(path string) (*logFile, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	return &logFile{f: f}, nil
}

func (l *logFile) Close() error { return l.f.Close() }

func (l *logFile) write(stream string, text []byte) {
	b, _ := json.Marshal(logLine{Log: string(text), Stream: stream, Time: time.Now().UTC()})
	l.mu.Lock()
	defer l.mu.Unlock()
	l.f.Write(append(b, '\n'))
}

// streamWriter writes a stream to the log, one record per line; flush
// writes what is left of an unfinished line.
type streamWriter struct {
	log     *logFile
	stream  string
	partial []byte
}

func (w *streamWriter) Write(p []byte) (int, error) {
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.log.write(w.stream, w.partial[:i+1])
		w.partial = w.partial[i+1:]
	}
	return len(p), nil
}

func (w *streamWriter) flush() {
	if len(w.partial) > 0 {
		w.log.write(w.stream, w.partial)
		w.partial = nil
	}
}

// LogOptions are `strata logs` flags.
type LogOptions struct {
	Follow     bool
	Tail       int // lines from the end; < 0 for all
	Timestamps bool
	Since      time.Time // only lines written at or after it (zero: all)
	Until      time.Time // only lines written before it (zero: all)
}

// shown reports whether a line falls within Since and Until.
func (o LogOptions) shown(l logLine) bool {
	return (o.Since.IsZero() || !l.Time.Before(o.Since)) && (o.Until.IsZero() || l.Time.Before(o.Until))
}

// ReadLog writes a container's log to stdout and stderr, each line to the
// stream it came from; with Follow it keeps reading while running reports
// the container runs.
func ReadLog(path string, o LogOptions, stdout, stderr io.Writer, running func() bool) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	emit := func(l logLine) {
		w := stdout
		if l.Stream == "stderr" {
			w = stderr
		}
		if o.Timestamps {
			io.WriteString(w, l.Time.Format(time.RFC3339Nano)+" ")
		}
		io.WriteString(w, l.Log)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return err
	}
	end := bytes.LastIndexByte(data, '\n') + 1 // a last line still being written waits
	var lines []logLine
	for _, b := range bytes.SplitAfter(data[:end], []byte("\n")) {
		var l logLine
		if len(b) > 0 && json.Unmarshal(b, &l) == nil && o.shown(l) {
			lines = append(lines, l)
		}
	}
	if o.Tail >= 0 && len(lines) > o.Tail {
		lines = lines[len(lines)-o.Tail:]
	}
	for _, l := range lines {
		emit(l)
	}
	if !o.Follow || (!o.Until.IsZero() && time.Now().After(o.Until)) {
		return nil
	}
	if _, err := f.Seek(int64(end), io.SeekStart); err != nil {
		return err
	}
	return follow(bufio.NewReader(f), f, func(l logLine) {
		if o.shown(l) {
			emit(l)
		}
	}, func() bool { return running() && (o.Until.IsZero() || time.Now().Before(o.Until)) })
}

// follow emits lines as they are appended, until the container stops and
// the log has been read to its end.
func follow(r *bufio.Reader, f *os.File, emit func(logLine), running func() bool) error {
	var pending []byte
	for {
		stopped := !running()
		for {
			b, err := r.ReadBytes('\n')
			pending = append(pending, b...)
			if err != nil {
				if err != io.EOF {
					return err
				}
				break
			}
			var l logLine
			if json.Unmarshal(pending, &l) == nil {
				emit(l)
			}
			pending = nil
		}
		if stopped {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
		r.Reset(f)
	}
}

// LogPath is where the container's output is kept.
func (m *Manager) LogPath(id string) string { return filepath.Join(m.dir(id), "container.log") }
