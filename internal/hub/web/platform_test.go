package web

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/strata-dev/strata/internal/image"
)

// scanPlatform reads what encoding/json reads, for every valid document.
func FuzzScanPlatform(f *testing.F) {
	for _, seed := range []string{
		`{"architecture":"amd64","os":"linux"}`,
		`{"history":[{"created_by":"RUN echo \"os\":\"windows\""}],"os":"linux","variant":"v8","architecture":"arm64"}`,
		`{"config":{"os":"nested"},"os":"linux"}`,
		`{"OS":"linux","Architecture":"s390x"}`,
		`{"os":"li\u006eux","os":null}`,
		`{"os":5}`,
		` { "os" : "linux" , "x" : [1, {"a": "]"}, true, null, -1.5e3] } `,
		`{"os":"linux"`,
		`[]`,
		`{"a\\":"os","os":"plan9"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := scanPlatform(bytes.NewReader(b))
		var want image.Platform
		if !json.Valid(b) || json.Unmarshal(b, &struct {
			OS           *string `json:"os"`
			Architecture *string `json:"architecture"`
			Variant      *string `json:"variant"`
		}{&want.OS, &want.Architecture, &want.Variant}) != nil {
			return // encoding/json reads nothing certain: the scanner only must not fail badly
		}
		isObject := bytes.HasPrefix(bytes.TrimLeft(b, " \t\r\n"), []byte("{"))
		if (err != nil && isObject) || got.OS != want.OS || got.Architecture != want.Architecture || got.Variant != want.Variant {
			t.Fatalf("scanPlatform(%q) = %+v, %v; encoding/json reads %+v", b, got, err, want)
		}
	})
}

// A config of megabytes of history is stepped over, not parsed.
func TestScanPlatformLarge(t *testing.T) {
	cfg := `{"architecture":"arm","history":[` + strings.Repeat(`{"created_by":"RUN \"x\" [{"},`, 100000) +
		`{}],"os":"linux","variant":"v7"}`
	p, err := scanPlatform(strings.NewReader(cfg))
	if err != nil || platformOf(&p) != "linux/arm/v7" {
		t.Fatalf("scanPlatform = %+v, %v", p, err)
	}
}
