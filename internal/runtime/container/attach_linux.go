package container

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/strata-dev/strata/internal/errdefs"
)

// A detached container's monitor owns its standard streams and serves
// them on attach.sock in the container's directory, which `strata attach`
// connects to. Both ways, the socket carries frames: a kind byte, a
// big-endian 32-bit length, the payload.
const (
	frameStdout = 1 // monitor to client: output
	frameStderr = 2
	frameExit   = 3 // monitor to client: the container ended; 4-byte status
	frameStdin  = 4 // client to monitor: input
	frameResize = 5 // client to monitor: the terminal's rows and columns, 2 bytes each
)

func (m *Manager) attachSocket(id string) string { return filepath.Join(m.dir(id), "attach.sock") }

func writeFrame(w io.Writer, kind byte, p []byte) error {
	b := make([]byte, 5+len(p))
	b[0] = kind
	binary.BigEndian.PutUint32(b[1:5], uint32(len(p)))
	copy(b[5:], p)
	_, err := w.Write(b)
	return err
}

func readFrame(r io.Reader, buf []byte) (kind byte, p []byte, err error) {
	var h [5]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(h[1:])
	if n > 1<<20 {
		return 0, nil, fmt.Errorf("attach: a frame of %d bytes", n)
	}
	if int(n) > cap(buf) {
		buf = make([]byte, n)
	}
	p = buf[:n]
	_, err = io.ReadFull(r, p)
	return h[0], p, err
}

// shortPath names path by a path short enough for a unix socket (108
// bytes): through /proc/self/fd when the directory's own path is too long.
// done closes what that took.
func shortPath(path string) (short string, done func(), err error) {
	if len(path) < 100 {
		return path, func() {}, nil
	}
	fd, err := unix.Open(filepath.Dir(path), unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", nil, err
	}
	return fmt.Sprintf("/proc/self/fd/%d/%s", fd, filepath.Base(path)), func() { unix.Close(fd) }, nil
}

// attachServer relays a container's streams to the clients attached to it.
type attachServer struct {
	path string
	l    *net.UnixListener

	mu      sync.Mutex
	clients map[net.Conn]bool // the ones that send input
	stdin   io.Writer         // the container's input; nil without -i
	console *os.File          // its terminal, with -t
}

func listenAttach(path string) (*attachServer, error) {
	os.Remove(path)
	short, done, err := shortPath(path)
	if err != nil {
		return nil, err
	}
	defer done()
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: short, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("attach socket: %w", err)
	}
	l.SetUnlinkOnClose(false)
	os.Chmod(path, 0o600)
	return &attachServer{path: path, l: l, clients: map[net.Conn]bool{}}, nil
}

// serve accepts clients until close.
func (s *attachServer) serve(stdin io.Writer, console *os.File) {
	s.mu.Lock()
	s.stdin, s.console = stdin, console
	s.mu.Unlock()
	go func() {
		for {
			conn, err := s.l.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			if s.clients == nil {
				s.mu.Unlock()
				conn.Close()
				return
			}
			s.clients[conn] = true
			s.mu.Unlock()
			go s.read(conn)
		}
	}()
}

// read takes a client's input and terminal size until it goes.
func (s *attachServer) read(conn net.Conn) {
	defer s.drop(conn)
	buf := make([]byte, 32*1024)
	for {
		kind, p, err := readFrame(conn, buf)
		if err != nil {
			return
		}
		s.mu.Lock()
		stdin, console := s.stdin, s.console
		s.mu.Unlock()
		switch {
		case kind == frameStdin && stdin != nil:
			stdin.Write(p)
		case kind == frameResize && console != nil && len(p) == 4:
			unix.IoctlSetWinsize(int(console.Fd()), unix.TIOCSWINSZ, &unix.Winsize{
				Row: binary.BigEndian.Uint16(p[0:2]), Col: binary.BigEndian.Uint16(p[2:4])})
		}
	}
}

func (s *attachServer) drop(conn net.Conn) {
	s.mu.Lock()
	if s.clients != nil {
		delete(s.clients, conn)
	}
	s.mu.Unlock()
	conn.Close()
}

// broadcast sends a frame to every client; one that does not take it
// within a few seconds is dropped, so that it cannot hold the container up.
func (s *attachServer) broadcast(kind byte, p []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for conn := range s.clients {
		conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if err := writeFrame(conn, kind, p); err != nil {
			delete(s.clients, conn)
			conn.Close()
		}
	}
}

// output is a writer for one of the container's streams: to its log, and
// to the clients.
func (s *attachServer) output(kind byte, log io.Writer) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		log.Write(p)
		s.broadcast(kind, p)
		return len(p), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// close tells the clients the container's exit status and stops serving.
func (s *attachServer) close(code int) {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(int32(code)))
	s.broadcast(frameExit, b[:])
	s.l.Close()
	os.Remove(s.path)
	s.mu.Lock()
	for conn := range s.clients {
		conn.Close()
	}
	s.clients = nil
	s.mu.Unlock()
}

// AttachOptions are what `strata attach` relays.
type AttachOptions struct {
	Stdin          io.Reader // nil: no input (--no-stdin, or a container without -i)
	Stdout, Stderr io.Writer
	DetachKeys     []byte // the sequence that detaches; nil for none
	// Resize, when set, gives the terminal's size now and after each change.
	Resize <-chan [2]uint16
}

// ErrDetached is Attach's answer when the user typed the detach keys.
var ErrDetached = errors.New("read escape sequence")

// ErrNoMonitor is Attach's answer for a running container that no monitor
// serves (one run in the foreground by another strata).
var ErrNoMonitor = errors.New("the container runs in the foreground of another strata command")

// Attach connects to the streams of the running container ref, as `docker
// attach`: its output as it comes, input when o.Stdin is set, until it
// ends (its exit status), the user detaches (ErrDetached) or ctx ends.
func (m *Manager) Attach(ctx context.Context, ref string, o AttachOptions) (int, error) {
	c, err := m.Get(ctx, ref)
	if err != nil {
		return 125, err
	}
	if !c.Running() {
		return 125, fmt.Errorf("you cannot attach to a stopped container, start it first: %w", errdefs.ErrConflict)
	}
	conn, err := m.dialAttach(ctx, c)
	if err != nil {
		return 125, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	var wmu sync.Mutex
	send := func(kind byte, p []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		return writeFrame(conn, kind, p)
	}
	if o.Resize != nil {
		go func() {
			for sz := range o.Resize {
				var b [4]byte
				binary.BigEndian.PutUint16(b[0:2], sz[0])
				binary.BigEndian.PutUint16(b[2:4], sz[1])
				if send(frameResize, b[:]) != nil {
					return
				}
			}
		}()
	}
	detached := make(chan struct{})
	if o.Stdin != nil {
		go func() {
			in := &escapeReader{r: o.Stdin, keys: o.DetachKeys}
			buf := make([]byte, 32*1024)
			for {
				n, err := in.Read(buf)
				if n > 0 && send(frameStdin, buf[:n]) != nil {
					return
				}
				if errors.Is(err, ErrDetached) {
					close(detached)
					conn.Close()
					return
				}
				if err != nil {
					return // input ended; the container's stays open, as docker's
				}
			}
		}()
	}
	buf := make([]byte, 64*1024)
	for {
		kind, p, err := readFrame(conn, buf)
		if err != nil {
			select {
			case <-detached:
				return 0, ErrDetached
			default:
			}
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			// The monitor went without a word: the container ended.
			return m.Wait(ctx, c.ID)
		}
		switch kind {
		case frameStdout:
			o.Stdout.Write(p)
		case frameStderr:
			o.Stderr.Write(p)
		case frameExit:
			if len(p) == 4 {
				return int(int32(binary.BigEndian.Uint32(p))), nil
			}
		}
	}
}

// dialAttach connects to the container's monitor. Its socket is missing
// for a moment as a container starts or ends, and always for one that
// runs in the foreground of another strata command.
func (m *Manager) dialAttach(ctx context.Context, c Container) (net.Conn, error) {
	short, done, err := shortPath(m.attachSocket(c.ID))
	if err != nil {
		return nil, err
	}
	defer done()
	for deadline := time.Now().Add(2 * time.Second); ; {
		conn, err := net.Dial("unix", short)
		if err == nil {
			return conn, nil
		}
		if !errors.Is(err, syscall.ENOENT) && !errors.Is(err, syscall.ECONNREFUSED) {
			return nil, err
		}
		if now, gerr := m.Get(ctx, c.ID); gerr != nil || !now.Running() {
			return nil, fmt.Errorf("you cannot attach to a stopped container, start it first: %w", errdefs.ErrConflict)
		}
		if time.Now().After(deadline) {
			return nil, ErrNoMonitor
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// escapeReader passes input on until the detach keys come, which it holds
// back while they may still be the start of the sequence, as docker's.
type escapeReader struct {
	r       io.Reader
	keys    []byte
	matched int    // how many of keys the input ends with
	pending []byte // what is left to return
}

func (e *escapeReader) Read(p []byte) (int, error) {
	if len(e.pending) > 0 {
		n := copy(p, e.pending)
		e.pending = e.pending[n:]
		return n, nil
	}
	if len(e.keys) == 0 {
		return e.r.Read(p)
	}
	buf := make([]byte, len(p))
	n, err := e.r.Read(buf)
	var out []byte
	for _, b := range buf[:n] {
		if b == e.keys[e.matched] {
			e.matched++
			if e.matched == len(e.keys) {
				m := copy(p, out)
				e.pending = out[m:]
				return m, ErrDetached
			}
			continue
		}
		out = append(out, e.keys[:e.matched]...) // not the sequence after all
		e.matched = 0
		if b == e.keys[0] {
			e.matched = 1
			continue
		}
		out = append(out, b)
	}
	if err != nil && e.matched > 0 {
		out = append(out, e.keys[:e.matched]...)
		e.matched = 0
	}
	m := copy(p, out)
	e.pending = out[m:]
	return m, err
}

// ParseDetachKeys reads --detach-keys as docker does: comma-separated keys,
// each a letter or ctrl- with a letter or one of @ [ \ ] ^ _.
func ParseDetachKeys(s string) ([]byte, error) {
	var keys []byte
	for _, k := range strings.Split(s, ",") {
		switch {
		case len(k) == 1:
			keys = append(keys, k[0])
		case len(k) == 6 && strings.HasPrefix(k, "ctrl-"):
			c := k[5]
			switch {
			case c >= 'a' && c <= 'z':
				keys = append(keys, c-'a'+1)
			case c >= '@' && c <= '_' && !(c >= 'A' && c <= 'Z'):
				keys = append(keys, c-'@')
			default:
				return nil, fmt.Errorf("invalid detach keys %q: %q is not a key: %w", s, k, errdefs.ErrInvalidArgument)
			}
		default:
			return nil, fmt.Errorf("invalid detach keys %q: %q is not a key (a letter, or ctrl- and a letter or @[\\]^_): %w", s, k, errdefs.ErrInvalidArgument)
		}
	}
	return keys, nil
}
