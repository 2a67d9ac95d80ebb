package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// strata runs the CLI in process against the store at root.
func strata(t testing.TB, root string, stdin []byte, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := func(k string) string {
		if k == "STRATA_ROOT" {
			return root
		}
		return ""
	}
	code := Run(context.Background(), args, Streams{In: bytes.NewReader(stdin), Out: &out, Err: &errOut}, env)
	if code != 0 {
		return out.String(), &cliError{code: code, stderr: errOut.String()}
	}
	return out.String(), nil
}

type cliError struct {
	code   int
	stderr string
}

func (e *cliError) Error() string { return strings.TrimSpace(e.stderr) }

func mustStrata(t testing.TB, root string, args ...string) string {
	t.Helper()
	out, err := strata(t, root, nil, args...)
	if err != nil {
		t.Fatalf("strata %s: %v", strings.Join(args, " "), err)
	}
	return out
}

var (
	agoPattern = regexp.MustCompile(`(Less than a second|About an? \w+|\d+ \w+) ago`)
	wideSpaces = regexp.MustCompile(` {2,}`)
)

// relaxed hides what must differ between two runs: times relative to now,
// and so the width of the columns next to them.
func relaxed(s string) string {
	s = agoPattern.ReplaceAllString(s, "<ago>")
	return wideSpaces.ReplaceAllString(s, "  ")
}

// TestGoldenAgainstDocker loads an archive made by `docker save` and checks
// that images, history and inspect print what docker printed for the same
// archive (testdata/golden/make.sh made both with the real docker).
func TestGoldenAgainstDocker(t *testing.T) {
	dir := filepath.Join("testdata", "golden")
	// Absolute times print in the local zone, as docker's do; make.sh ran in UTC.
	defer func(l *time.Location) { time.Local = l }(time.Local)
	time.Local = time.UTC
	root := t.TempDir()
	mustStrata(t, root, "load", "-i", filepath.Join(dir, "golden.tar.gz"))
	tests := []struct {
		file    string
		args    []string
		relaxed bool
	}{
		{"images.txt", []string{"images"}, true},
		{"images-no-trunc.txt", []string{"images", "--no-trunc"}, true},
		{"images-digests.txt", []string{"images", "--digests"}, true},
		{"images-q.txt", []string{"images", "-q"}, false},
		{"images-format.txt", []string{"images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}"}, false},
		{"images-json.txt", []string{"images", "--format", "{{json .}}"}, true},
		{"images-filter-reference.txt", []string{"images", "--filter", "reference=golden/app"}, true},
		{"images-filter-label.txt", []string{"image", "ls", "--filter", "label=org.example.kind=golden"}, true},
		{"history.txt", []string{"history", "golden/app:1"}, true},
		{"history-no-trunc.txt", []string{"history", "--no-trunc", "golden/app:1"}, true},
		{"history-H-false.txt", []string{"image", "history", "-H=false", "golden/app:1"}, false},
		{"history-q.txt", []string{"history", "-q", "golden/app:1"}, false},
		{"history-format.txt", []string{"history", "--format", "{{.ID}}|{{.CreatedBy}}|{{.Size}}|{{.Comment}}", "golden/app:1"}, false},
		{"history-base.txt", []string{"history", "golden/base:1"}, true},
		{"inspect-format.txt", []string{"image", "inspect", "-f", "{{.Config.Cmd}} {{json .RootFS}} {{.Size}}", "golden/app:1"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join(dir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			got := mustStrata(t, root, tc.args...)
			w := string(want)
			if tc.relaxed {
				got, w = relaxed(got), relaxed(w)
			}
			if got != w {
				t.Errorf("strata %s:\n%s\ndocker printed:\n%s", strings.Join(tc.args, " "), got, w)
			}
		})
	}
	t.Run("inspect-json-field-names", func(t *testing.T) {
		// Docker's templates may name fields as the JSON does ({{.Id}}) or as Go does ({{.ID}}).
		byJSON := mustStrata(t, root, "image", "inspect", "-f", "{{.Id}} {{.Size}} {{.Config.Cmd}}", "golden/app:1")
		byGo := mustStrata(t, root, "image", "inspect", "-f", "{{.ID}} {{.Size}} {{.Config.Cmd}}", "golden/app:1")
		if byJSON != byGo || !strings.HasPrefix(byJSON, "sha256:") {
			t.Errorf("{{.Id}} gave %q, {{.ID}} gave %q", byJSON, byGo)
		}
	})
	t.Run("inspect.json", func(t *testing.T) {
		want, err := os.ReadFile(filepath.Join(dir, "inspect.json"))
		if err != nil {
			t.Fatal(err)
		}
		got := mustStrata(t, root, "image", "inspect", "golden/app:1", "golden/base:1")
		if g, w := inspectWithout(t, got), inspectWithout(t, string(want)); !reflect.DeepEqual(g, w) {
			gb, _ := json.MarshalIndent(g, "", "  ")
			wb, _ := json.MarshalIndent(w, "", "  ")
			t.Errorf("strata inspect:\n%s\ndocker inspect:\n%s", gb, wb)
		}
		// The same keys in the same order, as scripts that read it by eye expect.
		if keys(got) != keys(string(want)) {
			t.Errorf("inspect keys differ from docker's:\n%s\n%s", keys(got), keys(string(want)))
		}
	})
}

// inspectWithout decodes inspect output, leaving out GraphDriver (where
// each engine keeps its files).
func inspectWithout(t *testing.T, s string) []map[string]any {
	t.Helper()
	var v []map[string]any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("inspect output is not a JSON array: %v\n%s", err, s)
	}
	for _, m := range v {
		delete(m, "GraphDriver")
	}
	return v
}

var keyPattern = regexp.MustCompile(`(?m)^\s*"(\w+)":`)

func keys(s string) string {
	var out []string
	for _, m := range keyPattern.FindAllStringSubmatch(s, -1) {
		if m[1] != "LowerDir" && m[1] != "MergedDir" && m[1] != "UpperDir" && m[1] != "WorkDir" {
			out = append(out, m[1])
		}
	}
	return strings.Join(out, " ")
}
