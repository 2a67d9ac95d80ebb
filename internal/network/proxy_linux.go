package network

import (
	"errors"
	"fmt"
	"io"
	"net"
	goruntime "runtime"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/strata-dev/strata/internal/errdefs"
)

// Proxy publishes a container's ports: it listens on the host and relays
// each connection (or UDP client) to the container's address, dialling
// from inside the network's namespace, as Docker's userland proxy does.
// It lives in the strata process that watches the container, and so
// touches no firewall.
type Proxy struct {
	Ports []Port // as published: the host ports the kernel picked filled in
	dial  func(network, addr string) (net.Conn, error)
	stop  func()
	close []io.Closer
	wg    sync.WaitGroup
}

// Publish starts relaying ports to the container at ep, whose network
// namespace of its network is netNS. Close stops it.
func Publish(netNS string, ep Endpoint, ports []Port) (*Proxy, error) {
	dial, stop, err := dialerIn(netNS)
	if err != nil {
		return nil, err
	}
	p := &Proxy{dial: dial, stop: stop}
	for _, port := range ports {
		target := net.JoinHostPort(ep.IP.Addr().String(), strconv.Itoa(port.ContainerPort))
		listen := net.JoinHostPort(port.HostIP, strconv.Itoa(port.HostPort))
		var err error
		if port.Proto == "udp" {
			err = p.udp(listen, target, &port)
		} else {
			err = p.tcp(listen, target, &port)
		}
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("publish %s: %v: %w", port, err, errdefs.ErrConflict)
		}
		p.Ports = append(p.Ports, port)
	}
	return p, nil
}

// Close stops listening and relaying.
func (p *Proxy) Close() error {
	for _, c := range p.close {
		c.Close()
	}
	p.wg.Wait()
	p.stop()
	return nil
}

func (p *Proxy) tcp(listen, target string, port *Port) error {
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	port.HostPort = l.Addr().(*net.TCPAddr).Port
	p.close = append(p.close, l)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go p.relay(c, target)
		}
	}()
	return nil
}

func (p *Proxy) relay(c net.Conn, target string) {
	defer c.Close()
	up, err := p.dial("tcp", target)
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
	<-done
}

// udpIdle is how long a UDP client's relay is kept without traffic.
const udpIdle = 90 * time.Second

func (p *Proxy) udp(listen, target string, port *Port) error {
	pc, err := net.ListenPacket("udp", listen)
	if err != nil {
		return err
	}
	port.HostPort = pc.LocalAddr().(*net.UDPAddr).Port
	p.close = append(p.close, pc)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		var mu sync.Mutex
		clients := map[string]net.Conn{}
		buf := make([]byte, 65536)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				mu.Lock()
				for _, c := range clients {
					c.Close()
				}
				mu.Unlock()
				return
			}
			mu.Lock()
			up, ok := clients[from.String()]
			if !ok {
				if up, err = p.dial("udp", target); err != nil {
					mu.Unlock()
					continue
				}
				clients[from.String()] = up
				go func(up net.Conn, from net.Addr) { // replies, until the client goes quiet
					b := make([]byte, 65536)
					for {
						up.SetReadDeadline(time.Now().Add(udpIdle))
						n, err := up.Read(b)
						if err != nil {
							break
						}
						pc.WriteTo(b[:n], from)
					}
					mu.Lock()
					delete(clients, from.String())
					mu.Unlock()
					up.Close()
				}(up, from)
			}
			mu.Unlock()
			up.Write(buf[:n])
		}
	}()
	return nil
}

// dialerIn returns a dial function whose sockets are made in the network
// namespace pinned at path, by a thread that lives there until stop.
func dialerIn(path string) (dial func(network, addr string) (net.Conn, error), stop func(), err error) {
	type request struct {
		network, addr string
		reply         chan dialed
	}
	reqs := make(chan request)
	ready := make(chan error, 1)
	go func() {
		goruntime.LockOSThread() // never unlocked: the thread ends with the goroutine
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			err = unix.Setns(fd, unix.CLONE_NEWNET)
			unix.Close(fd)
		}
		ready <- err
		if err != nil {
			return
		}
		for r := range reqs {
			// The socket is made here, in the namespace; connecting may
			// finish on any thread.
			c, err := (&net.Dialer{Timeout: 5 * time.Second}).Dial(r.network, r.addr)
			r.reply <- dialed{c, err}
		}
	}()
	if err := <-ready; err != nil {
		return nil, nil, fmt.Errorf("enter network namespace %s: %w", path, err)
	}
	var once sync.Once
	var mu sync.RWMutex
	closed := false
	dial = func(network, addr string) (net.Conn, error) {
		mu.RLock()
		defer mu.RUnlock()
		if closed {
			return nil, errors.New("the proxy is closed")
		}
		r := request{network, addr, make(chan dialed, 1)}
		reqs <- r
		d := <-r.reply
		return d.c, d.err
	}
	stop = func() {
		once.Do(func() {
			mu.Lock()
			closed = true
			close(reqs)
			mu.Unlock()
		})
	}
	return dial, stop, nil
}

type dialed struct {
	c   net.Conn
	err error
}
