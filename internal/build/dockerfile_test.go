package build

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/image"
)

var timeZero = time.Unix(0, 0)

const multiStage = `ARG BASE=busybox:test
FROM $BASE AS deps
RUN echo deps
FROM ${BASE} AS unused
RUN echo unused
FROM deps AS build
COPY --from=tools /x /x
FROM busybox:test AS tools
FROM scratch AS final
COPY --from=build /x /x
COPY --from=0 /y /y
`

func TestStagesNeeded(t *testing.T) {
	df, err := parseDockerfile([]byte(multiStage))
	if err != nil {
		t.Fatal(err)
	}
	a := newArgSet(map[string]string{}, image.DefaultPlatform(), image.DefaultPlatform())
	if err := a.declareMeta(df.lex, df.metaArgs); err != nil {
		t.Fatal(err)
	}
	b := &builder{df: df, args: a}
	for _, tc := range []struct {
		target string
		want   string
	}{
		{"", "[0 2 4]"}, // tools is named after build: build's --from=tools is an image
		{"build", "[0 2]"},
		{"DEPS", "[0]"},
		{"unused", "[1]"},
	} {
		i, err := df.target(tc.target)
		if err != nil {
			t.Fatal(err)
		}
		got, err := df.needed(i, b.fromName)
		if err != nil || fmt.Sprint(got) != tc.want {
			t.Errorf("target %q needs %v, %v; want %s", tc.target, got, err, tc.want)
		}
	}
	if name, _ := b.fromName(1); name != "busybox:test" {
		t.Errorf("FROM ${BASE} = %q", name)
	}
	if _, err := df.target("nope"); !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "deps, unused, build, tools, final") {
		t.Errorf("unknown target: %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ dockerfile, want string }{
		{"", "file with no instructions"},
		{"RUN echo hi\n", "no build stage in current context"},
		{"FROM busybox\nFOO bar\n", "unknown instruction: FOO"},
		{"FROM busybox\nCOPY onlyone\n", "COPY requires at least two arguments"},
		{"FROM busybox AS 1bad\n", "invalid name for build stage"},
		{"FROM busybox\nRUN <<EOF\necho never ends\n", "unterminated heredoc"},
		{"ARG X\n", "no FROM instruction"},
	} {
		_, err := parseDockerfile([]byte(tc.dockerfile))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errdefs.IsInvalidArgument(err) {
			t.Errorf("%q: %v, want an invalid-argument error with %q", tc.dockerfile, err, tc.want)
		}
	}
}

// History lines as Docker 20.10's classic builder writes them (checked
// against it in internal/cli's TestBuildMatchesDocker).
func TestHistoryLines(t *testing.T) {
	sh := image.ContainerConfig{}
	bash := image.ContainerConfig{Shell: []string{"/bin/bash", "-c"}}
	for _, tc := range []struct{ got, want string }{
		{nopHistory(sh, "ENV A=b"), "/bin/sh -c #(nop)  ENV A=b"},
		{nopHistory(bash, "USER app"), "/bin/bash -c #(nop)  USER app"},
		{fileHistory(sh, "WORKDIR /app"), "/bin/sh -c #(nop) WORKDIR /app"},
		{copyHistory(sh, "COPY", "", []string{"file:abc"}, "/app/"), "/bin/sh -c #(nop) COPY file:abc in /app/ "},
		{copyHistory(sh, "COPY", "app", []string{"dir:abc"}, "."), "/bin/sh -c #(nop) COPY --chown=appdir:abc in . "},
		{copyHistory(sh, "ADD", "", []string{"file:a", "file:b"}, "/x/"), "/bin/sh -c #(nop) ADD " + hashStrings("multi", []string{"file:a", "file:b"}) + " in /x/ "},
		{runHistory([]string{"/bin/sh", "-c", "echo hi"}, nil), "/bin/sh -c echo hi"},
		{runHistory([]string{"echo", "hi"}, []string{"B=2", "A=1"}), "|2 A=1 B=2 echo hi"},
		{healthHistory(&image.Healthcheck{Test: []string{"CMD-SHELL", "true"}, Interval: 5 * time.Second, Retries: 3}),
			`HEALTHCHECK &{["CMD-SHELL" "true"] "5s" "0s" "0s" '\x03'}`},
	} {
		if tc.got != tc.want {
			t.Errorf("got  %q\nwant %q", tc.got, tc.want)
		}
	}
}

func TestRunArgs(t *testing.T) {
	parse := func(line string) *instructions.RunCommand {
		t.Helper()
		df, err := parseDockerfile([]byte("FROM scratch\n" + line))
		if err != nil {
			t.Fatal(err)
		}
		return df.stages[0].Commands[0].(*instructions.RunCommand)
	}
	sh := image.ContainerConfig{}
	for _, tc := range []struct{ line, args, script string }{
		{"RUN echo  hi", `[/bin/sh -c echo  hi]`, ""},
		{`RUN ["echo", "hi"]`, `[echo hi]`, ""},
		{"RUN <<EOF\necho a\necho b\nEOF\n", "[/bin/sh -c echo a\necho b\n]", ""},
		{"RUN <<EOF\n#!/bin/sh\necho s\nEOF\n", "[/bin/sh /dev/pipes/EOF]", "#!/bin/sh\necho s\n"},
		{"RUN <<X\n#!/usr/bin/env  python3 -u\nprint(1)\nX\n", "[/usr/bin/env python3 -u /dev/pipes/X]", "#!/usr/bin/env  python3 -u\nprint(1)\n"},
		{"RUN cat <<A <<B\na\nA\nb\nB\n", "[/bin/sh -c cat <<A <<B\na\nA\nb\nB]", ""},
	} {
		args, script, err := runArgs(sh, parse(tc.line))
		if err != nil || fmt.Sprint(args) != tc.args || script != tc.script {
			t.Errorf("%q: %q, %q, %v; want %q, %q", tc.line, args, script, err, tc.args, tc.script)
		}
	}
}
