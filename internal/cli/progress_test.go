package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/remote/transfer"
)

func progressEvents() []transfer.Event {
	a, b := digest.FromString("a"), digest.FromString("b")
	ev := func(d digest.Digest, act transfer.Action, cur, total int64) transfer.Event {
		return transfer.Event{ID: transfer.ShortID(d), Digest: d, Action: act, Current: cur, Total: total}
	}
	return []transfer.Event{
		ev(a, transfer.AlreadyExists, 0, 10),
		ev(b, transfer.PullingFSLayer, 0, 40_100_000),
		ev(b, transfer.Downloading, 12_300_000, 40_100_000),
		ev(b, transfer.Downloading, 12_400_000, 40_100_000), // within barInterval: not drawn
		ev(b, transfer.Verifying, 40_100_000, 40_100_000),
		ev(b, transfer.DownloadComplete, 40_100_000, 40_100_000),
		ev(b, transfer.Extracting, 0, 0),
		ev(b, transfer.PullComplete, 0, 0),
	}
}

func TestProgressPlain(t *testing.T) {
	var out bytes.Buffer
	v := newProgressView(&out)
	for _, e := range progressEvents() {
		v.Event(e)
	}
	a, b := transfer.ShortID(digest.FromString("a")), transfer.ShortID(digest.FromString("b"))
	want := a + ": Already exists\n" + b + ": Pulling fs layer\n" + b + ": Verifying Checksum\n" +
		b + ": Download complete\n" + b + ": Extracting\n" + b + ": Pull complete\n"
	if out.String() != want {
		t.Errorf("plain output:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestProgressTerminal(t *testing.T) {
	var out bytes.Buffer
	v := newProgressView(&out)
	v.tty = true
	events := progressEvents()
	for _, e := range events[:3] {
		v.Event(e)
	}
	b := transfer.ShortID(digest.FromString("b"))
	// The second line is redrawn in place: up one line, clear it, write, back down.
	bar := "[" + strings.Repeat("=", 15) + ">" + strings.Repeat(" ", 34) + "]"
	want := "\x1b[1A\r\x1b[2K" + b + ": Downloading " + bar + "   12.3MB/40.1MB\r\x1b[1B"
	if !strings.HasSuffix(out.String(), want) {
		t.Errorf("terminal output ends %q\nwant %q", out.String(), want)
	}
	n := out.Len()
	v.Event(events[3])
	if out.Len() != n {
		t.Error("a bar moved again within barInterval was redrawn")
	}
	for _, e := range events[4:] {
		v.Event(e)
	}
	if !strings.HasSuffix(out.String(), "\x1b[2K"+b+": Pull complete\r\x1b[1B") {
		t.Errorf("last redraw: %q", out.String()[n:])
	}
	if lines := strings.Count(out.String(), "\n"); lines != 2 {
		t.Errorf("%d lines for two layers", lines)
	}
}

func TestBar(t *testing.T) {
	for _, tc := range []struct {
		cur, total int64
		want       string
	}{
		{0, 10, "[>" + strings.Repeat(" ", 49) + "]"},
		{5, 10, "[" + strings.Repeat("=", 25) + ">" + strings.Repeat(" ", 24) + "]"},
		{10, 10, "[" + strings.Repeat("=", 50) + "]"},
		{11, 10, "[" + strings.Repeat("=", 50) + "]"},
	} {
		if got := bar(tc.cur, tc.total); got != tc.want {
			t.Errorf("bar(%d, %d) = %q", tc.cur, tc.total, got)
		}
	}
}
