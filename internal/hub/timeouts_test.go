package hub_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/hub"
	"github.com/strata-dev/strata/internal/hub/deadline"
	"github.com/strata-dev/strata/internal/testutil"
)

// heldOpen is how long a test waits before it calls a connection held
// open by a slow client: far past every deadline the hubs here set.
const heldOpen = 20 * time.Second

// rawRequest writes a request's head, then calls send to write its body
// (as slowly as it likes), and reads what comes back until the hub closes
// the connection. It returns the response's status line ("" when none
// came) and whether the hub closed the connection before heldOpen.
func rawRequest(t *testing.T, addr, head string, send func(w io.Writer) error) (string, bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(heldOpen))
	io.WriteString(c, head)
	sent := make(chan struct{})
	go func() { defer close(sent); send(c) }()
	r := bufio.NewReader(c)
	status, _ := r.ReadString('\n')
	_, err = io.Copy(io.Discard, r)
	closed := err == nil || !isTimeout(err)
	<-sent
	return strings.TrimSpace(status), closed
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// Slow clients cannot hold the hub's connections: a header that never
// ends, a body that pauses, a body that trickles below the minimum rate,
// a response nobody reads. Honest clients on slow links still push big
// blobs, taking far longer than any one pause allowed.
func TestSlowClients(t *testing.T) {
	policy := deadline.Policy{Stall: time.Second, MinRate: 256 << 10}
	h := testutil.StartHub(t, hub.Config{HeaderTimeout: time.Second, Slow: policy})
	upload := func() string {
		return do(t, "POST", h.URL()+"/v2/slow/repo/blobs/uploads/", nil, nil).Header.Get("Location")
	}
	patch := func(loc string, n int) string {
		return fmt.Sprintf("PATCH %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", loc, h.Addr, n)
	}
	pausedAt := upload()
	for _, tc := range []struct {
		name string
		head string
		send func(w io.Writer) error
	}{
		{"a header that never ends", "GET /v2/ HTTP/1.1\r\nHost: " + h.Addr + "\r\n", func(io.Writer) error { return nil }},
		{"a body that pauses", patch(pausedAt, 1<<20), func(w io.Writer) error {
			_, err := w.Write(make([]byte, 100<<10))
			return err
		}},
		{"a body that trickles", patch(upload(), 1<<20), func(w io.Writer) error {
			for range 200 { // 10 bytes every 50 ms: never a long pause, but 200 bytes a second
				if _, err := w.Write(make([]byte, 10)); err != nil {
					return err
				}
				time.Sleep(50 * time.Millisecond)
			}
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, closed := rawRequest(t, h.Addr, tc.head, tc.send)
			if !closed {
				t.Fatalf("the hub held the connection open for %v (status %q)", heldOpen, status)
			}
			if status != "" && !strings.Contains(status, "408") && !strings.Contains(status, "400") {
				t.Fatalf("answered %q", status)
			}
		})
	}
	// What arrived before the pause is kept: the client can resume.
	resp := do(t, "GET", h.URL()+pausedAt, nil, nil)
	if resp.StatusCode != 204 || resp.Header.Get("Range") != fmt.Sprintf("0-%d", 100<<10-1) {
		t.Fatalf("the paused upload: %d, Range %q", resp.StatusCode, resp.Header.Get("Range"))
	}

	// An honest client at four times the minimum rate takes 4 s for 4 MiB,
	// four times longer than any pause may be.
	blob := make([]byte, 4<<20)
	rand.Read(blob)
	status, _ := rawRequest(t, h.Addr, fmt.Sprintf("POST /v2/slow/repo/blobs/uploads/?digest=%s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nContent-Length: %d\r\n\r\n",
		digest.FromBytes(blob), h.Addr, len(blob)), func(w io.Writer) error {
		for b := bytes.NewReader(blob); b.Len() > 0; time.Sleep(62 * time.Millisecond) {
			if _, err := io.CopyN(w, b, 64<<10); err != nil && err != io.EOF {
				return err
			}
		}
		return nil
	})
	if !strings.Contains(status, "201") {
		t.Fatalf("an honest slow push: %q", status)
	}
}

// A client that stops reading a response is cut off once the response had
// its time (the pause allowed, plus its size at the minimum rate).
func TestSlowReader(t *testing.T) {
	h := testutil.StartHub(t, hub.Config{Slow: deadline.Policy{Stall: time.Second, MinRate: 32 << 20}})
	blob := make([]byte, 32<<20)
	rand.Read(blob)
	d := digest.FromBytes(blob)
	if r := do(t, "POST", h.URL()+"/v2/big/blob/blobs/uploads/?digest="+d.String(), nil, blob); r.StatusCode != 201 {
		t.Fatalf("push: %d", r.StatusCode)
	}
	resp, err := http.Get(h.URL() + "/v2/big/blob/blobs/" + d.String())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	time.Sleep(4 * time.Second) // reads nothing, well past the 2 s the response has
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil && n == int64(len(blob)) {
		t.Fatal("a client that read nothing for 4 s got the whole blob: the hub waited for it")
	}
}
