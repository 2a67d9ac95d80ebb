package web

import "testing"

// Redirects after sign-in stay on the hub whatever next says.
func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{"/settings": "/settings", "/r/alice/app?sort=date": "/r/alice/app?sort=date",
		"": "/", "//evil.example/x": "/", `/\evil.example`: "/", "https://evil.example/": "/", "settings": "/",
		"javascript:alert(1)": "/", "/%2F%2Fevil": "/%2F%2Fevil"} {
		if got := localPath(in, "/"); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
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
