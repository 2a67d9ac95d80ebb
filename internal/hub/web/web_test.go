package web

import (
	"net/url"
	"strings"
	"testing"
)

// localPathCases are TestLocalPath's table and FuzzLocalPath's seeds.
var localPathCases = map[string]string{
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
}

// Redirects stay on the hub whatever next says: the check is on the
// Location as it is sent, after the normalization browsers apply.
func TestLocalPath(t *testing.T) {
	for in, want := range localPathCases {
		got := localPath(in, "/")
		if got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
		if strings.HasPrefix(got, "//") || strings.ContainsAny(got, "\\\t\r\n") {
			t.Errorf("localPath(%q) = %q leaves the hub", in, got)
		}
	}
}

// FuzzLocalPath: a Location made of any next= is the fallback or a path
// on the hub: resolved against the hub's URL (after a browser drops tabs
// and newlines and reads \ as /) it stays on the hub's host, it is clean
// (the router would not redirect it again), and it is its own Location.
func FuzzLocalPath(f *testing.F) {
	for in := range localPathCases {
		f.Add(in)
	}
	base, _ := url.Parse("https://hub.example/r/alice/app")
	f.Fuzz(func(t *testing.T, next string) {
		const fallback = "/fallback"
		got := localPath(next, fallback)
		if got == fallback {
			return
		}
		if !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.ContainsFunc(got, unsafeInURL) {
			t.Fatalf("localPath(%q) = %q", next, got)
		}
		browser := strings.NewReplacer("\t", "", "\n", "", "\r", "", "\\", "/").Replace(got)
		u, err := url.Parse(browser)
		if err != nil {
			t.Fatalf("localPath(%q) = %q, which does not parse: %v", next, got, err)
		}
		if to := base.ResolveReference(u); to.Host != base.Host || to.Scheme != base.Scheme || to.User != nil {
			t.Fatalf("localPath(%q) = %q, which leads to %s", next, got, to)
		}
		if cleanPath(u.Path) != u.Path {
			t.Fatalf("localPath(%q) = %q, whose path is not clean", next, got)
		}
		if again := localPath(got, fallback); again != got {
			t.Fatalf("localPath(%q) = %q, but localPath(%q) = %q", next, got, got, again)
		}
	})
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
