package remote

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/testutil"
)

// dialTo is a transport that reaches addr whatever host a request names,
// so that tests can give a loopback server a name that is not loopback.
func dialTo(addr string) *http.Transport {
	t := defaultTransport()
	t.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	return t
}

func TestNetworkErrorsSayWhatToDo(t *testing.T) {
	reg := testutil.StartDistribution(t, "")
	ctx := context.Background()
	push(t, New(Options{}).Repository(reg.Addr, "a/b", Push), newTestImage(t, 10), "1", PushOptions{})
	// The real registry behind TLS with a certificate nobody trusts.
	target, _ := url.Parse("http://" + reg.Addr)
	tlsReg := httptest.NewUnstartedServer(httputil.NewSingleHostReverseProxy(target))
	tlsReg.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are the point
	tlsReg.StartTLS()
	t.Cleanup(tlsReg.Close)
	tlsAddr := strings.TrimPrefix(tlsReg.URL, "https://")

	for _, tc := range []struct {
		name     string
		domain   string
		opts     Options
		class    error
		contains string
	}{
		{"unknown host", "no-such-registry.invalid:5000", Options{}, errdefs.ErrNotFound, "unknown host"},
		{"connection refused", testutil.FreeAddr(t), Options{}, errdefs.ErrUnavailable, "connection refused"},
		{"untrusted certificate", "example.com", Options{Transport: dialTo(tlsAddr)}, errdefs.ErrUnavailable, "unknown authority"},
		{"certificate for another name", "registry.test", Options{Transport: dialTo(tlsAddr)}, errdefs.ErrUnavailable, "is for example.com"},
		{"plain http to a secure name", "registry.test", Options{Transport: dialTo(reg.Addr)}, errdefs.ErrUnavailable, "speaks plain http"},
		{"insecure with TLS", "registry.test", Options{Transport: dialTo(tlsAddr), Insecure: []string{"registry.test"}}, nil, ""},
		{"insecure with plain http", "registry.test", Options{Transport: dialTo(reg.Addr), Insecure: []string{"registry.test"}}, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.opts).Repository(tc.domain, "a/b", Pull).Resolve(ctx, "1")
			if tc.class == nil {
				if err != nil {
					t.Fatalf("Resolve = %v, want success", err)
				}
				return
			}
			if !errors.Is(err, tc.class) || !strings.Contains(err.Error(), tc.contains) {
				t.Fatalf("Resolve = %v; want %v saying %q", err, tc.class, tc.contains)
			}
		})
	}
}
