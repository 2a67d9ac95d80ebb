// Package webhook tells receivers outside the hub what happened to a
// repository: a push, a tag deleted, the repository made public or
// private. Each hook (meta.Hook) is a URL and a secret; a delivery is a
// JSON POST signed with HMAC-SHA256 over its body
// (X-Strata-Signature-256: sha256=HEX), sent in the background and tried
// again with a doubling pause until the receiver answers 2xx or the tries
// run out. Every delivery and its last try are recorded (meta.Delivery)
// for the repository's page, where it may be sent again.
//
// Receivers are reached only over http(s), and by default only at public
// addresses: a hook may not make the hub call its own network (loopback,
// private, link-local, ...), checked when the hook is made and again at
// each connection (so a name that resolves elsewhere later is refused
// too), and redirects are not followed. Options.AllowPrivate lifts that.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/meta"
)

// The events a hook may be told of.
const (
	Push       = "push"
	TagDelete  = "tag_delete"
	Visibility = "visibility"
)

// Events are all of them, in the order the web shows them.
var Events = []string{Push, TagDelete, Visibility}

// SignatureHeader carries the body's HMAC-SHA256 under the hook's secret.
const SignatureHeader = "X-Strata-Signature-256"

// Options tune deliveries. Zero values take the defaults.
type Options struct {
	// AllowPrivate lets hooks reach loopback, private and link-local
	// addresses (a receiver on the hub's own network).
	AllowPrivate bool
	Attempts     int           // tries per delivery (default 5)
	Backoff      time.Duration // the pause after the first failed try, doubling after each (default 2s)
	Timeout      time.Duration // for one try (default 10s)
	Log          *slog.Logger
	Now          func() time.Time
}

// Dispatcher sends deliveries.
type Dispatcher struct {
	meta   meta.Store
	opts   Options
	client *http.Client
	wg     sync.WaitGroup
	stop   context.Context // ends at Close: tries under way end, none starts
	cancel context.CancelFunc
}

// New returns a dispatcher over the hub's metadata.
func New(m meta.Store, opts Options) *Dispatcher {
	if opts.Attempts <= 0 {
		opts.Attempts = 5
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 2 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	d := &Dispatcher{meta: m, opts: opts}
	d.stop, d.cancel = context.WithCancel(context.Background())
	dialer := &net.Dialer{Timeout: opts.Timeout, Control: func(_, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return err
		}
		return d.checkAddr(ip)
	}}
	d.client = &http.Client{
		Timeout:       opts.Timeout,
		Transport:     &http.Transport{DialContext: dialer.DialContext, Proxy: nil, MaxIdleConnsPerHost: 2, IdleConnTimeout: time.Minute},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return d
}

// checkAddr refuses what a hook may not reach.
func (d *Dispatcher) checkAddr(ip netip.Addr) error {
	ip = ip.Unmap()
	if d.opts.AllowPrivate {
		return nil
	}
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsMulticast() ||
		ip.IsUnspecified() || ip.IsInterfaceLocalMulticast() || cgnat.Contains(ip) {
		return fmt.Errorf("%s is not a public address (the hub's operator may allow private ones): %w", ip, errdefs.ErrForbidden)
	}
	return nil
}

// cgnat is the shared address space (RFC 6598), private in all but name.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// CheckURL says what is wrong with a hook's URL: not http(s), no host, or
// (unless allowed) a host that is or resolves to a private address.
func (d *Dispatcher) CheckURL(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || len(raw) > 2000 {
		return fmt.Errorf("a webhook's URL is http:// or https://, with a host and no credentials: %w", errdefs.ErrInvalidArgument)
	}
	if d.opts.AllowPrivate {
		return nil
	}
	host := u.Hostname()
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else if ips, err = net.DefaultResolver.LookupNetIP(ctx, "ip", host); err != nil {
		return fmt.Errorf("%s does not resolve: %w", host, errdefs.ErrInvalidArgument)
	}
	for _, ip := range ips {
		if err := d.checkAddr(ip); err != nil {
			return fmt.Errorf("%s: %w", host, err)
		}
	}
	return nil
}

// NewSecret is a random secret for a hook made without one.
func NewSecret() string {
	b := make([]byte, 24)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Sign is the signature header's value for body under secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Payload is what a delivery's body says.
type Payload struct {
	Event      string    `json:"event"`
	Repository string    `json:"repository"`
	Actor      string    `json:"actor"`
	Time       time.Time `json:"time"`
	Tag        string    `json:"tag,omitempty"`
	Tags       []string  `json:"tags,omitempty"`
	Digest     string    `json:"digest,omitempty"`
	MediaType  string    `json:"media_type,omitempty"`
	Visibility string    `json:"visibility,omitempty"`
}

// payloadOf is the event an audit entry is for hooks, "" none.
func payloadOf(e meta.AuditEvent) (Payload, bool) {
	p := Payload{Repository: e.Details["repository"], Actor: e.Actor, Time: e.Time.UTC(), Digest: e.Details["digest"]}
	switch e.Action {
	case meta.AuditPush:
		p.Event, p.MediaType = Push, e.Details["media_type"]
		if t := e.Details["tags"]; t != "" {
			p.Tags = strings.Split(t, ",")
		}
	case meta.AuditTagDelete:
		p.Event, p.Tag = TagDelete, e.Details["tag"]
	case meta.AuditVisibility:
		p.Event, p.Visibility = Visibility, e.Details["visibility"]
	default:
		return p, false
	}
	return p, p.Repository != ""
}

// Notify is the audit recorder's listener: an entry hooks care about is
// delivered to each hook that asked for its event, of its repository and
// of the organization whose namespace the repository is in.
func (d *Dispatcher) Notify(ctx context.Context, e meta.AuditEvent) {
	p, ok := payloadOf(e)
	if !ok {
		return
	}
	ctx = context.WithoutCancel(ctx)
	hooks, err := d.meta.Hooks(ctx, p.Repository)
	if err == nil && strings.Contains(p.Repository, "/") {
		var org []meta.Hook
		org, err = d.meta.OrgHooks(ctx, meta.Namespace(p.Repository))
		hooks = append(hooks, org...)
	}
	if err != nil {
		d.opts.Log.Error("webhooks not read: nothing delivered", "repository", p.Repository, "event", p.Event, "err", err)
		return
	}
	body, _ := json.Marshal(p)
	for _, h := range hooks {
		if slices.Contains(h.Events, p.Event) {
			d.deliver(ctx, h, p.Event, body)
		}
	}
}

// deliver records a delivery of body to h and sends it in the background.
func (d *Dispatcher) deliver(ctx context.Context, h meta.Hook, event string, body []byte) (int64, error) {
	now := d.opts.Now()
	del := meta.Delivery{Hook: h.ID, Event: event, Payload: body, State: meta.DeliveryPending, CreatedAt: now, UpdatedAt: now}
	id, err := d.meta.AddDelivery(ctx, del)
	if err != nil {
		d.opts.Log.Error("webhook delivery not recorded: not sent", "hook", h.ID, "event", event, "err", err)
		return 0, err
	}
	del.ID = id
	d.start(h, del)
	return id, nil
}

// Redeliver sends a recorded delivery's payload again, as a new delivery
// of the same hook, which must be on what on names (its Repository or
// its Org); it returns the new one's id.
func (d *Dispatcher) Redeliver(ctx context.Context, on meta.Hook, id int64) (int64, error) {
	old, err := d.meta.Delivery(ctx, id)
	if err != nil {
		return 0, err
	}
	h, err := d.meta.Hook(ctx, old.Hook)
	if err == nil && (h.Repository != on.Repository || h.Org != on.Org) {
		err = fmt.Errorf("delivery %d: %w", id, errdefs.ErrNotFound)
	}
	if err != nil {
		return 0, err
	}
	return d.deliver(context.WithoutCancel(ctx), h, old.Event, old.Payload)
}

// start sends del in the background.
func (d *Dispatcher) start(h meta.Hook, del meta.Delivery) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.send(h, del)
	}()
}

// send tries del until the receiver takes it or the tries run out,
// recording each try.
func (d *Dispatcher) send(h meta.Hook, del meta.Delivery) {
	pause := d.opts.Backoff
	for del.Attempts < d.opts.Attempts {
		del.Attempts++
		start := time.Now()
		code, err := d.post(d.stop, h, del)
		if d.stop.Err() != nil {
			return // closed: the delivery stays pending, as after a crash
		}
		del.Duration, del.Code, del.UpdatedAt = time.Since(start), code, d.opts.Now()
		del.Error = ""
		switch {
		case err != nil:
			del.Error = err.Error()
		case code < 200 || code > 299:
			del.Error = "answered " + strconv.Itoa(code)
		}
		done := del.Error == "" || errors.Is(err, errdefs.ErrForbidden)
		if del.Error == "" {
			del.State = meta.DeliveryOK
		} else if done || del.Attempts >= d.opts.Attempts {
			del.State = meta.DeliveryFailed
		}
		if uerr := d.meta.UpdateDelivery(d.stop, del); uerr != nil {
			d.opts.Log.Error("webhook delivery not recorded", "delivery", del.ID, "err", uerr)
		}
		if done {
			return
		}
		if del.Attempts < d.opts.Attempts {
			select {
			case <-time.After(pause):
			case <-d.stop.Done():
				return
			}
			pause *= 2
		}
	}
	if del.State == meta.DeliveryPending { // resumed with no try left
		del.State, del.UpdatedAt = meta.DeliveryFailed, d.opts.Now()
		d.meta.UpdateDelivery(d.stop, del)
	}
	d.opts.Log.Warn("webhook delivery failed", "hook", h.ID, "url", h.URL, "delivery", del.ID, "err", del.Error)
}

// post sends del once and returns the receiver's status.
func (d *Dispatcher) post(ctx context.Context, h meta.Hook, del meta.Delivery) (int, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", h.URL, bytes.NewReader(del.Payload))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "strata-hub-webhook")
	req.Header.Set("X-Strata-Event", del.Event)
	req.Header.Set("X-Strata-Delivery", strconv.FormatInt(del.ID, 10))
	req.Header.Set(SignatureHeader, Sign(h.Secret, del.Payload))
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// StaleAfter is how long a pending delivery goes untouched before it is
// taken for one whose sender is gone: longer than any pause between tries.
func (d *Dispatcher) StaleAfter() time.Duration {
	return d.opts.Backoff<<d.opts.Attempts + 2*d.opts.Timeout + time.Minute
}

// Resume takes up to n pending deliveries whose sender is gone (a node
// that stopped or crashed: see StaleAfter) and sends them on, with the
// tries they have left. The caller makes sure one node at a time resumes
// (a job lease): each is marked as touched before it goes on. It returns
// how many it took.
func (d *Dispatcher) Resume(ctx context.Context, n int) (int, error) {
	now := d.opts.Now()
	stale, err := d.meta.StaleDeliveries(ctx, now.Add(-d.StaleAfter()), n)
	if err != nil {
		return 0, err
	}
	for _, del := range stale {
		del.UpdatedAt = now
		if err := d.meta.UpdateDelivery(ctx, del); err != nil {
			return 0, err
		}
		h, err := d.meta.Hook(ctx, del.Hook)
		if errdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return 0, err
		}
		d.start(h, del)
	}
	return len(stale), nil
}

// Wait waits for the deliveries under way (tests).
func (d *Dispatcher) Wait() { d.wg.Wait() }

// Close ends the deliveries under way (they stay pending) and waits for them.
func (d *Dispatcher) Close() {
	d.cancel()
	d.wg.Wait()
}
