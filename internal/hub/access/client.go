package access

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

type clientKey struct{}

// WithClient returns ctx carrying the address the request came from, as
// the hub's front door worked it out (see Client).
func WithClient(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, clientKey{}, addr)
}

// Client is the address r came from: what the front door recorded, else
// the host of r.RemoteAddr.
func Client(r *http.Request) string {
	if a, ok := r.Context().Value(clientKey{}).(string); ok && a != "" {
		return a
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// ClientAddress works out the address r came from. Behind reverse proxies
// the hub trusts (trusted), it is the nearest address in X-Forwarded-For
// that is not one of them; otherwise the peer's own. A client cannot
// choose its address by sending the header to a hub that trusts no one.
func ClientAddress(r *http.Request, trusted []netip.Prefix) string {
	peer := Client(r)
	if !isTrusted(peer, trusted) {
		return peer
	}
	var hops []string
	for _, h := range r.Header.Values("X-Forwarded-For") {
		for _, a := range strings.Split(h, ",") {
			hops = append(hops, strings.TrimSpace(a))
		}
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(hops[i])
		if err != nil {
			return peer // a hop we cannot read: count the proxy, not a name the client made up
		}
		if !isTrusted(a.String(), trusted) || i == 0 {
			return a.Unmap().String()
		}
	}
	return peer
}

func isTrusted(addr string, trusted []netip.Prefix) bool {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	for _, p := range trusted {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// ClientKey is what limits count an address as: an IPv4 address itself,
// an IPv6 address by the /64 it is in (one host often has a whole /64).
func ClientKey(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// ClientFrom is the address the front door recorded in ctx, "" when none.
func ClientFrom(ctx context.Context) string {
	a, _ := ctx.Value(clientKey{}).(string)
	return a
}
