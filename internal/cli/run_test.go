package cli

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-dev/strata/internal/errdefs"
)

func TestRunFlagsBadInput(t *testing.T) {
	dir := t.TempDir()
	badEnv := filepath.Join(dir, "bad.env")
	os.WriteFile(badEnv, []byte("GOOD=1\nNOT A KEY=2\n"), 0o644)
	cases := []struct {
		name string
		f    runFlags
		want string
	}{
		{"anonymous volume at a relative path", runFlags{volumes: []string{"data"}}, "want /host/path:/container/path"},
		{"too many parts", runFlags{volumes: []string{dir + ":/data:ro:more"}}, "want /host/path:/container/path"},
		{"relative container path", runFlags{volumes: []string{dir + ":data"}}, "container path must be absolute"},
		{"bad mode", runFlags{volumes: []string{dir + ":/data:rx"}}, "the options are ro, rw"},
		{"missing host path", runFlags{volumes: []string{dir + "/none:/data"}}, "no such file"},
		{"bad env file line", runFlags{envFiles: []string{badEnv}}, "bad.env:2"},
		{"missing env file", runFlags{envFiles: []string{dir + "/none.env"}}, "--env-file"},
	}
	for _, c := range cases {
		_, err := c.f.options(func(string) string { return "" }, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.name, err, c.want)
		}
		if err != nil && c.name != "missing env file" && !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%s: %v is not an invalid-argument error", c.name, err)
		}
	}
}

func TestRunFlagsEnv(t *testing.T) {
	file := filepath.Join(t.TempDir(), "app.env")
	os.WriteFile(file, []byte("# comment\n\nA=from file\nFROM_HOST\nUNSET_HERE\n  B=indented\n"), 0o644)
	getenv := func(k string) string {
		return map[string]string{"FROM_HOST": "host", "C": "host-c"}[k]
	}
	f := runFlags{envFiles: []string{file}, env: []string{"A=flag", "C", "D"}, volumes: []string{t.TempDir() + ":/data:ro"}}
	o, err := f.options(getenv, []string{"echo"})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(o.Env, ","); got != "A=from file,FROM_HOST=host,B=indented,A=flag,C=host-c" {
		t.Fatalf("env %s", got)
	}
	if len(o.Volumes) != 1 || !o.Volumes[0].ReadOnly || o.Volumes[0].Target != "/data" {
		t.Fatalf("volumes %+v", o.Volumes)
	}
}
