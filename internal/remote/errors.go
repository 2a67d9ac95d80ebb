package remote

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/strata-dev/strata/internal/errdefs"
)

// Error is a registry's refusal: the HTTP status and the codes of the
// distribution spec's error envelope. It wraps the errdefs class that fits the
// status, so callers decide with errors.Is.
type Error struct {
	Op     string // what was attempted: "fetch manifest alice/app:1"
	Status int
	Codes  []ErrorCode
}

// ErrorCode is one entry of the envelope: {"code": "...", "message": "..."}.
type ErrorCode struct {
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Detail  json.RawMessage `json:"detail,omitempty"`
}

func (e *Error) Error() string {
	var msgs []string
	for _, c := range e.Codes {
		m := strings.ToLower(c.Code)
		if c.Message != "" {
			m += ": " + c.Message
		}
		msgs = append(msgs, m)
	}
	if len(msgs) == 0 {
		switch e.Status {
		case http.StatusUnauthorized:
			msgs = append(msgs, "authentication required")
		case http.StatusForbidden:
			msgs = append(msgs, "access denied")
		default:
			msgs = append(msgs, strings.ToLower(http.StatusText(e.Status)))
		}
	}
	return fmt.Sprintf("%s: %s (HTTP %d)", e.Op, strings.Join(msgs, "; "), e.Status)
}

// Unwrap gives the errdefs class of the status.
func (e *Error) Unwrap() error {
	switch e.Status {
	case http.StatusUnauthorized:
		return errdefs.ErrUnauthorized
	case http.StatusForbidden:
		return errdefs.ErrForbidden
	case http.StatusNotFound:
		return errdefs.ErrNotFound
	case http.StatusBadRequest, http.StatusRequestedRangeNotSatisfiable, http.StatusRequestEntityTooLarge:
		return errdefs.ErrInvalidArgument
	case http.StatusConflict:
		return errdefs.ErrConflict
	case http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		return errdefs.ErrUnavailable
	}
	return nil
}

// HasCode reports whether the registry gave code (such as "MANIFEST_UNKNOWN").
func (e *Error) HasCode(code string) bool {
	for _, c := range e.Codes {
		if c.Code == code {
			return true
		}
	}
	return false
}

// statusError reads an unexpected response into an *Error.
func statusError(resp *http.Response, op string) error {
	e := &Error{Op: op, Status: resp.StatusCode}
	if resp.Request != nil && resp.Request.Method != http.MethodHead {
		var env struct {
			Errors []ErrorCode `json:"errors"`
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(b, &env) == nil {
			e.Codes = env.Errors
		}
	}
	return e
}

// explainNetError turns a transport failure into an error that says what
// went wrong and what to do about it.
func explainNetError(addr string, err error) error {
	var dns *net.DNSError
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var record tls.RecordHeaderError
	switch {
	case errors.As(err, &dns) && dns.IsNotFound:
		return fmt.Errorf("registry %s: unknown host %s (check the name, or your DNS): %w", addr, dns.Name, errdefs.ErrNotFound)
	case errors.As(err, &unknownCA):
		return fmt.Errorf("registry %s: TLS: its certificate is signed by an unknown authority; install that CA in the system's trust store, or list the registry as insecure: %w", addr, errdefs.ErrUnavailable)
	case errors.As(err, &hostname):
		return fmt.Errorf("registry %s: TLS: its certificate is for %s, not for this name: %w", addr, certNames(hostname.Certificate), errdefs.ErrUnavailable)
	case errors.As(err, &invalid):
		return fmt.Errorf("registry %s: TLS: its certificate is not valid (%v): %w", addr, invalid, errdefs.ErrUnavailable)
	case errors.As(err, &record) || strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return fmt.Errorf("registry %s speaks plain http, not https; list it as insecure to use it: %w", addr, errdefs.ErrUnavailable)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("registry %s: connection refused (is it running, on that port?): %w", addr, errdefs.ErrUnavailable)
	}
	return fmt.Errorf("registry %s: %w", addr, err)
}

func certNames(c *x509.Certificate) string {
	if c == nil {
		return "another name"
	}
	if len(c.DNSNames) > 0 {
		return strings.Join(c.DNSNames, ", ")
	}
	return c.Subject.CommonName
}

// isPlainHTTPAnswer reports whether err is an https request answered in plain http.
func isPlainHTTPAnswer(err error) bool {
	var record tls.RecordHeaderError
	return errors.As(err, &record) || strings.Contains(err.Error(), "server gave HTTP response to HTTPS client")
}
