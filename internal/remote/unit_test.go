package remote

import (
	"reflect"
	"testing"
)

func TestParseChallenge(t *testing.T) {
	for _, tc := range []struct {
		in      string
		scheme  string
		params  map[string]string
		wantErr bool
	}{
		{`Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push"`,
			"bearer", map[string]string{"realm": "https://auth.docker.io/token", "service": "registry.docker.io", "scope": "repository:samalba/my-app:pull,push"}, false},
		{`Basic realm="basic-realm"`, "basic", map[string]string{"realm": "basic-realm"}, false},
		{`basic realm=bare, charset="UTF-8"`, "basic", map[string]string{"realm": "bare", "charset": "UTF-8"}, false},
		{`Bearer realm="a\"b",error="invalid_token"`, "bearer", map[string]string{"realm": `a"b`, "error": "invalid_token"}, false},
		{`Basic`, "basic", map[string]string{}, false},
		{``, "", nil, true},
		{`Bearer service="x"`, "", nil, true},
		{`Bearer realm="unterminated`, "", nil, true},
		{`Bearer realm`, "", nil, true},
	} {
		ch, err := parseChallenge(tc.in)
		if tc.wantErr {
			if err == nil {
				t.Errorf("parseChallenge(%q) = %+v, want an error", tc.in, ch)
			}
			continue
		}
		if err != nil || ch.scheme != tc.scheme || !reflect.DeepEqual(ch.params, tc.params) {
			t.Errorf("parseChallenge(%q) = %+v, %v; want %s %v", tc.in, ch, err, tc.scheme, tc.params)
		}
	}
}

func TestInsecureAndEndpoints(t *testing.T) {
	c := New(Options{Insecure: []string{"reg.lan:5000", "other.lan"}})
	for domain, want := range map[string]bool{
		"localhost": true, "localhost:5000": true, "127.0.0.1:5000": true, "127.9.9.9": true,
		"[::1]:5000": true, "reg.lan:5000": true, "reg.lan:5001": false, "other.lan:443": true,
		"docker.io": false, "ghcr.io": false, "128.0.0.1": false, "localhost.evil.com": false,
	} {
		if got := c.IsInsecure(domain); got != want {
			t.Errorf("IsInsecure(%s) = %v, want %v", domain, got, want)
		}
	}
	for domain, want := range map[string]string{"docker.io": DockerHubEndpoint, "index.docker.io": DockerHubEndpoint, "ghcr.io": "ghcr.io"} {
		if got := Endpoint(domain); got != want {
			t.Errorf("Endpoint(%s) = %s, want %s", domain, got, want)
		}
	}
	if r := c.Repository("docker.io", "busybox", Pull); r.Name != "library/busybox" {
		t.Errorf("docker.io/busybox is %s, want library/busybox", r.Name)
	}
	r := c.Repository("h", "alice/app", Push, "alice/base", "alice/app")
	if want := []string{"repository:alice/app:pull,push", "repository:alice/base:pull"}; !reflect.DeepEqual(r.scopes, want) {
		t.Errorf("scopes %v, want %v", r.scopes, want)
	}
}

func TestHeaderParsers(t *testing.T) {
	for in, want := range map[string]int64{"bytes 100-199/200": 100, "bytes 0-0/1": 0, "5-9/10": 5, "bytes -5/10": -1, "garbage": -1, "bytes x-1/2": -1} {
		got, ok := contentRangeStart(in)
		if !ok {
			got = -1
		}
		if got != want {
			t.Errorf("contentRangeStart(%q) = %d, want %d", in, got, want)
		}
	}
	for in, want := range map[string]int64{"0-1023": 1023, "bytes=0-9": 9, "0--1": -1, "": -2, "0-x": -2} {
		got, ok := rangeEnd(in)
		if !ok {
			got = -2
		}
		if got != want {
			t.Errorf("rangeEnd(%q) = %d, want %d", in, got, want)
		}
	}
	for in, want := range map[string]string{
		`</v2/a/tags/list?n=2&last=b>; rel="next"`:      "/v2/a/tags/list?n=2&last=b",
		`<https://h/v2/a/tags/list?last=c>; rel="next"`: "https://h/v2/a/tags/list?last=c",
		`</v2/a/tags/list?last=b>; rel="prev"`:          "",
		``:                                              "",
	} {
		got := ""
		if u := nextLink(in); u != nil {
			got = u.String()
		}
		if got != want {
			t.Errorf("nextLink(%q) = %q, want %q", in, got, want)
		}
	}
	if scopeKey([]string{"b", "a", "b"}) != scopeKey([]string{"a", "b"}) {
		t.Error("scopeKey depends on order or repeats")
	}
}
