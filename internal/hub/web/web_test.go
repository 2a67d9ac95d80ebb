package web

import (
	"strings"
	"testing"
)

// Redirects stay on the hub whatever next says: the check is on the
// Location as it is sent, after the normalization browsers apply.
func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"/settings":                "/settings",
		"/r/alice/app?sort=date":   "/r/alice/app?sort=date",
		"/r/alice/./app/../web/":   "/r/alice/web/",
		"":                         "/",
		"settings":                 "/",
		"//evil.example/x":         "/",
		`/\evil.example`:           "/",
		`/./\evil.example`:         "/",
		`/.//evil.example`:         "/evil.example",
		"/%5Cevil.example":         "/",
		"/%5c%5cevil.example":      "/",
		"/\t/evil.example":         "/",
		"/\n/evil.example":         "/",
		"/%09/evil.example":        "/",
		"/%2F%2Fevil.example":      "/evil.example",
		"/..//evil.example":        "/evil.example",
		"https://evil.example/":    "/",
		"javascript:alert(1)":      "/",
		"/x?next=//evil.example":   "/x?next=//evil.example",
		"/%0d%0aSet-Cookie:%20x=1": "/",
		"/\u3000/evil.example":     "/%E3%80%80/evil.example",
	} {
		got := localPath(in, "/")
		if got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
		if strings.HasPrefix(got, "//") || strings.ContainsAny(got, "\\\t\r\n") {
			t.Errorf("localPath(%q) = %q leaves the hub", in, got)
		}
	}
}

// History lines read as Dockerfile steps, from both of Docker's builders.
func TestCleanCommand(t *testing.T) {
	for in, want := range map[string]string{
		"/bin/sh -c #(nop)  CMD [\"sh\"]":        `CMD ["sh"]`,
		"/bin/sh -c apk add curl":                "RUN apk add curl",
		"RUN /bin/sh -c make install # buildkit": "RUN make install",
		"COPY . /src # buildkit":                 "COPY . /src",
		"ADD file:abc in / ":                     "ADD file:abc in /",
	} {
		if got := cleanCommand(in); got != want {
			t.Errorf("cleanCommand(%q) = %q, want %q", in, got, want)
		}
	}
}
