package distapi

import (
	"errors"
	"fmt"
	"regexp"
	"testing"

	"github.com/strata-dev/strata/internal/hub/errcode"
)

// rangeCases are TestParseRange's table and FuzzParseRange's seeds: a
// Range header on a blob of size bytes, the part served (partial false:
// the whole blob), or 416.
var rangeCases = []struct {
	header                 string
	size, start, length    int64
	partial, unsatisfiable bool
}{
	{"", 10, 0, 10, false, false},
	{"bytes=0-4", 10, 0, 5, true, false},
	{"bytes=5-", 10, 5, 5, true, false},
	{"bytes=-3", 10, 7, 3, true, false},
	{"bytes=-30", 10, 0, 10, true, false},
	{"bytes=2-100", 10, 2, 8, true, false},
	{" bytes=9-9 ", 10, 9, 1, true, false},
	{"bytes=0-1,4-5", 10, 0, 10, false, false},
	{"items=0-4", 10, 0, 10, false, false},
	{"bytes=10-", 10, 0, 0, false, true},
	{"bytes=5-4", 10, 0, 0, false, true},
	{"bytes=-0", 10, 0, 0, false, true},
	{"bytes=0-", 0, 0, 0, false, true},
	{"bytes=x-y", 10, 0, 0, false, true},
	{"bytes=4", 10, 0, 0, false, true},
	// Found by FuzzParseRange: only digits, and only spaces and tabs around them.
	{"bytes=-1\f", 58, 0, 0, false, true},
	{"bytes=+1-+2", 10, 0, 0, false, true},
	{"bytes=-+3", 10, 0, 0, false, true},
}

func TestParseRange(t *testing.T) {
	for _, tc := range rangeCases {
		start, length, partial, err := parseRange(tc.header, tc.size)
		if tc.unsatisfiable {
			if !isRangeInvalid(err, tc.size) {
				t.Errorf("parseRange(%q, %d) = %d, %d, %v, %v; want 416", tc.header, tc.size, start, length, partial, err)
			}
			continue
		}
		if err != nil || start != tc.start || length != tc.length || partial != tc.partial {
			t.Errorf("parseRange(%q, %d) = %d, %d, %v, %v; want %d, %d, %v", tc.header, tc.size, start, length, partial, err, tc.start, tc.length, tc.partial)
		}
	}
}

// isRangeInvalid reports whether err is the 416 that names the blob's size.
func isRangeInvalid(err error, size int64) bool {
	var e *errcode.Error
	return errors.As(err, &e) && e.Code == errcode.RangeInvalid && e.Header.Get("Content-Range") == fmt.Sprintf("bytes */%d", size)
}

// byteRange is RFC 9110's grammar for one range of bytes (with the
// whitespace around it the hub tolerates).
var byteRange = regexp.MustCompile(`^[ \t]*bytes=[ \t]*(?:[0-9]+-[0-9]*|-[0-9]+)[ \t]*$`)

// FuzzParseRange: a range served lies inside the blob and is not empty;
// it is served only for a header in RFC 9110's grammar, and the range
// written back as a-b reads the same; the whole blob is served for no
// range or one the hub ignores; anything else is a 416 naming the size.
func FuzzParseRange(f *testing.F) {
	for _, tc := range rangeCases {
		f.Add(tc.header, tc.size)
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			size = -(size + 1)
		}
		start, length, partial, err := parseRange(h, size)
		switch {
		case err != nil:
			if !isRangeInvalid(err, size) {
				t.Fatalf("parseRange(%q, %d): %v; want a 416 naming the size", h, size, err)
			}
		case !partial:
			if start != 0 || length != size {
				t.Fatalf("parseRange(%q, %d) = %d, %d: the whole blob is 0, %d", h, size, start, length, size)
			}
		default:
			if start < 0 || length <= 0 || start >= size || length > size-start {
				t.Fatalf("parseRange(%q, %d) = %d, %d: not inside the blob", h, size, start, length)
			}
			if !byteRange.MatchString(h) {
				t.Fatalf("parseRange(%q, %d) = %d, %d: served for a header that is not a range of bytes", h, size, start, length)
			}
			again := fmt.Sprintf("bytes=%d-%d", start, start+length-1)
			if s, l, p, err := parseRange(again, size); err != nil || s != start || l != length || !p {
				t.Fatalf("parseRange(%q, %d) = %d, %d, but %q reads %d, %d, %v", h, size, start, length, again, s, l, err)
			}
		}
	})
}
