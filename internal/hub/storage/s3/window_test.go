package s3_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/storage/s3"
	"github.com/strata-dev/strata/internal/hub/storage/storagetest"
	"github.com/strata-dev/strata/internal/testutil"
)

// partProxy stands between a driver and SeaweedFS and lets a test fault
// the part PUTs of multipart uploads, by part number: before is called as
// a part arrives (true: answer 500 instead of storing it; it may block to
// order the parts), stored once SeaweedFS has taken one.
type partProxy struct {
	url string

	mu       sync.Mutex
	before   func(n int) (fail bool)
	stored   func(n int)
	inFlight int // part PUTs being answered now
	most     int // the most at once
}

func newPartProxy(t *testing.T) *partProxy {
	t.Helper()
	w := testutil.SeaweedFSServer(t)
	target, err := url.Parse(w.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	p := &partProxy{}
	rp := httputil.NewSingleHostReverseProxy(target) // the Host header stays the proxy's, as signed
	rp.ModifyResponse = func(resp *http.Response) error {
		if n := partNumber(resp.Request); n > 0 && resp.StatusCode == http.StatusOK {
			p.mu.Lock()
			stored := p.stored
			p.mu.Unlock()
			if stored != nil {
				stored(n)
			}
		}
		return nil
	}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		n := partNumber(r)
		if n == 0 {
			rp.ServeHTTP(rw, r)
			return
		}
		p.mu.Lock()
		before := p.before
		p.inFlight++
		p.most = max(p.most, p.inFlight)
		p.mu.Unlock()
		defer func() { p.mu.Lock(); p.inFlight--; p.mu.Unlock() }()
		if before != nil && before(n) {
			rw.Header().Set("Content-Type", "application/xml")
			rw.WriteHeader(http.StatusInternalServerError)
			rw.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>a fault of the test</Message></Error>`))
			return
		}
		rp.ServeHTTP(rw, r)
	}))
	t.Cleanup(srv.Close)
	p.url = srv.URL
	return p
}

// partNumber is the part a request PUTs, 0 for any other request.
func partNumber(r *http.Request) int {
	q := r.URL.Query()
	if r.Method != http.MethodPut || q.Get("uploadId") == "" {
		return 0
	}
	n, _ := strconv.Atoi(q.Get("partNumber"))
	return n
}

func (p *partProxy) set(before func(int) bool, stored func(int)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.before, p.stored = before, stored
}

func (p *partProxy) mostAtOnce() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.most
}

// through is another node on a's bucket and prefix whose requests go through p.
func through(t *testing.T, a *s3.Driver, p *partProxy, inFlight int) *s3.Driver {
	t.Helper()
	w := testutil.SeaweedFSServer(t)
	o := a.Options()
	o.Endpoint, o.PartsInFlight = p.url, inFlight
	o.Credentials = credentials.NewStaticCredentialsProvider(w.AccessKey, w.SecretKey, "")
	d, err := s3.New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// recordedParts is how many parts a state lists, and its tail's size.
func recordedParts(t *testing.T, state []byte) (int, int64) {
	t.Helper()
	var st struct {
		Parts    []json.RawMessage `json:"parts"`
		TailSize int64             `json:"tailSize"`
	}
	if err := json.Unmarshal(state, &st); err != nil {
		t.Fatalf("state %s: %v", state, err)
	}
	return len(st.Parts), st.TailSize
}

// noSpareHeld fails the test when parts of uploads that ended still hold
// spare slots of d's: they would be lost to every later upload.
func noSpareHeld(t *testing.T, d *s3.Driver) {
	t.Helper()
	if n := s3.SpareInUse(d); n != 0 {
		t.Errorf("%d spare slots held after every upload ended", n)
	}
}

// waitFor waits for c, failing the test after a while rather than hanging it.
func waitFor(t *testing.T, c <-chan struct{}, what string) bool {
	select {
	case <-c:
		return true
	case <-time.After(time.Minute):
		t.Errorf("still waiting for %s after a minute", what)
		return false
	}
}

// Several parts of an upload go out at once, never more than the window.
func TestPartsInFlight(t *testing.T) {
	a := newDriver(t, "hub")
	p := newPartProxy(t)
	b := through(t, a, p, 3)
	p.set(func(int) bool { time.Sleep(300 * time.Millisecond); return false }, nil)
	data := randomBytes(8*5*mib + 100)
	size, state := appendChunk(t, b, "window", 0, nil, data)
	if most := p.mostAtOnce(); most < 2 || most > 3 {
		t.Errorf("%d parts at once, want 2 to 3", most)
	}
	// Close waited for all of them: the state lists every part.
	if parts, tail := recordedParts(t, state); parts != 8 || tail != 100 {
		t.Errorf("the state lists %d parts and a tail of %d, want 8 and 100", parts, tail)
	}
	noSpareHeld(t, b)
	commitAndCheck(t, a, "window", size, state, data)
}

// Parts beyond each upload's first share the driver's spare slots: two
// uploads with one slot between them have at most three parts in flight.
func TestSpareSlotsAreShared(t *testing.T) {
	a := newDriver(t, "hub")
	p := newPartProxy(t)
	b := through(t, a, p, 4)
	s3.SetSpareSlots(b, 1)
	p.set(func(int) bool { time.Sleep(300 * time.Millisecond); return false }, nil)
	var wg sync.WaitGroup
	for _, id := range []string{"one", "two"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := randomBytes(6 * 5 * mib)
			st, err := b.Stage(context.Background(), id, 0, nil)
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := st.Write(data); err != nil {
				t.Error(err)
			}
			if err := st.Commit(context.Background(), digest.FromBytes(data)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if most := p.mostAtOnce(); most < 2 || most > 3 {
		t.Errorf("%d parts at once, want 2 to 3", most)
	}
	noSpareHeld(t, b)
}

// A part that fails while later ones are stored comes back with every
// part after it, in order: the state lists only the parts before it, the
// rest waits in the tail, and the upload resumes from there on another
// node, sending the numbers of the parts that were stored again.
func TestPartFailsWhileLaterOnesArrive(t *testing.T) {
	a := newDriver(t, "hub")
	p := newPartProxy(t)
	b := through(t, a, p, 4)
	// Part 2 fails once part 5 is stored: part 5 goes out when part 1
	// has arrived, and part 6 waits for part 2, the oldest in flight.
	fifth := make(chan struct{})
	var mu sync.Mutex
	stored := map[int]bool{}
	p.set(func(n int) bool {
		if n != 2 {
			return false
		}
		waitFor(t, fifth, "part 5")
		return true // and again on every retry
	}, func(n int) {
		mu.Lock()
		defer mu.Unlock()
		if n == 5 && !stored[5] {
			close(fifth)
		}
		stored[n] = true
	})
	data := randomBytes(6*5*mib + mib)
	st, err := b.Stage(context.Background(), "fails", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := st.Write(data)
	if !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("Write = %d, %v; want the store unavailable", n, err)
	}
	if n != 6*5*mib {
		t.Errorf("Write took %d bytes, want the %d before the part that could not go", n, 6*5*mib)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	size, state := st.Size(), st.State()
	if size != int64(n) {
		t.Fatalf("size %d after Close, want the %d taken", size, n)
	}
	if parts, tail := recordedParts(t, state); parts != 1 || tail != int64(n)-5*mib {
		t.Fatalf("the state lists %d parts and a tail of %d, want 1 and %d", parts, tail, n-5*mib)
	}
	mu.Lock()
	for _, later := range []int{3, 4, 5} {
		if !stored[later] {
			t.Errorf("part %d was not stored: the test did not fault what it means to", later)
		}
	}
	mu.Unlock()
	noSpareHeld(t, b)
	// The rest of the blob, on a node that reaches the store.
	more := randomBytes(7 * mib)
	size, state = appendChunk(t, a, "fails", size, state, append(data[n:], more...))
	commitAndCheck(t, a, "fails", size, state, append(data, more...))
}

// A part that fails in flight as the request ends: Close keeps its bytes
// and those after it in the tail, and Commit reports it, making nothing
// visible.
func TestPartFailsAtTheEnd(t *testing.T) {
	a := newDriver(t, "hub")
	p := newPartProxy(t)
	b := through(t, a, p, 4)
	// Part 2 fails once part 4, the last, is stored: Write has sent them all.
	fourth := make(chan struct{})
	p.set(func(n int) bool { return n == 2 && waitFor(t, fourth, "part 4") }, func(n int) {
		if n == 4 {
			close(fourth)
		}
	})
	data := randomBytes(4*5*mib + 1000)
	size, state := appendChunk(t, b, "end", 0, nil, data)
	if parts, tail := recordedParts(t, state); size != int64(len(data)) || parts != 1 || tail != size-5*mib {
		t.Fatalf("size %d, %d parts, a tail of %d; want %d, 1 and %d", size, parts, tail, len(data), len(data)-5*mib)
	}

	p.set(func(n int) bool { return n == 2 }, nil)
	st, err := b.Stage(context.Background(), "end", size, state)
	if err != nil {
		t.Fatal(err)
	}
	more := randomBytes(5*mib + 10)
	if _, err := st.Write(more); err != nil {
		t.Fatal(err) // the part is in flight: its failure is not known yet
	}
	all := append(data, more...)
	dg := digest.FromBytes(all)
	if err := st.Commit(context.Background(), dg); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("Commit with a part failing: %v, want the store unavailable", err)
	}
	if _, err := a.Stat(context.Background(), dg); !errdefs.IsNotFound(err) {
		t.Fatalf("after a failed commit, Stat: %v, want not found", err)
	}
	noSpareHeld(t, b)
	p.set(nil, nil) // the store is back
	commitAndCheck(t, b, "end", size, state, data)
	noSpareHeld(t, b)
}

// A node that dies with parts in flight records nothing: the next node
// resumes from the state recorded before, whenever the dead node's parts
// land. Landing before the next node's parts of the same numbers, they are
// replaced; landing after, they are caught at assembly (their SHA-256 is
// not the state's): the commit fails, and never makes a blob of the wrong
// bytes.
func TestNodeDiesMidWindow(t *testing.T) {
	for _, late := range []bool{false, true} {
		t.Run("late="+strconv.FormatBool(late), func(t *testing.T) {
			a := newDriver(t, "hub")
			p := newPartProxy(t)
			dying := through(t, a, p, 4)
			first := randomBytes(2*5*mib + 2*mib)
			size, state := appendChunk(t, a, "dies", 0, nil, first) // parts 1 and 2, a tail of 2 MiB

			release := make(chan struct{})
			var landed sync.WaitGroup
			landed.Add(3)
			p.set(func(n int) bool {
				if n >= 4 {
					waitFor(t, release, "the test to let the dead node's parts through")
				}
				return false
			}, func(n int) {
				if n >= 4 {
					landed.Done()
				}
			})
			st, err := dying.Stage(context.Background(), "dies", size, state)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.Write(randomBytes(4 * 5 * mib)); err != nil { // parts 3 to 6
				t.Fatal(err)
			}
			// The node dies: no Close, no state recorded.

			if !late {
				close(release)
				landed.Wait()
			}
			second := randomBytes(3*5*mib + 3) // parts 3 to 5 again, and a tail
			end, endState := appendChunk(t, a, "dies", size, state, second)
			want := append(first, second...)
			if late {
				close(release)
				landed.Wait()
				st, err := a.Stage(context.Background(), "dies", end, endState)
				if err != nil {
					t.Fatal(err)
				}
				dg := digest.FromBytes(want)
				err = st.Commit(context.Background(), dg)
				if err == nil {
					// A store that kept the first copy of each part: the blob must be right.
					t.Log("the commit after the dead node's parts landed succeeded")
					if got := storagetest.Read(t, a, dg); !bytes.Equal(got, want) {
						t.Fatal("the blob holds the dead node's bytes")
					}
					return
				}
				t.Logf("the commit after the dead node's parts landed: %v", err)
				if _, serr := a.Stat(context.Background(), dg); !errdefs.IsNotFound(serr) {
					t.Fatalf("the commit failed (%v) but Stat says %v", err, serr)
				}
				return
			}
			commitAndCheck(t, a, "dies", end, endState, want)
		})
	}
}
