package web

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/meta"
)

// TestReadRules: the tag rules form takes patterns one a line (or comma
// or space separated) and whole numbers in bounds; anything else is a
// clear error.
func TestReadRules(t *testing.T) {
	form := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	var many string
	for i := range meta.MaxPatterns + 1 {
		many += "v" + strconv.Itoa(i) + "\n"
	}
	for _, tc := range []struct {
		name string
		form url.Values
		want meta.TagPolicy
		err  string // part of the error; "" none
	}{
		{"empty: no rule", form(), meta.TagPolicy{}, ""},
		{"patterns", form("immutable", "v*\r\nrelease-*, 1.?.?\n\n v*  [0-9]*"), meta.TagPolicy{Immutable: []string{"v*", "release-*", "1.?.?", "[0-9]*"}}, ""},
		{"retention", form("keep_last", " 5 ", "keep_days", "30", "drop_untagged", "on"),
			meta.TagPolicy{KeepLast: 5, KeepWithin: 30 * 24 * time.Hour, DropUntagged: true}, ""},
		{"a slash", form("immutable", "v/*"), meta.TagPolicy{}, `has '/'`},
		{"markup", form("immutable", "<script>"), meta.TagPolicy{}, `has '<'`},
		{"unclosed class", form("immutable", "v[0-9"), meta.TagPolicy{}, "not a valid pattern"},
		{"too long", form("immutable", strings.Repeat("v", 129)), meta.TagPolicy{}, "longer than 128"},
		{"too many", form("immutable", many), meta.TagPolicy{}, "at most 50"},
		{"negative", form("keep_last", "-1"), meta.TagPolicy{}, "whole number from 1 to 10000"},
		{"zero", form("keep_last", "0"), meta.TagPolicy{}, "whole number"},
		{"words", form("keep_last", "five"), meta.TagPolicy{}, "whole number"},
		{"huge", form("keep_last", "99999999999999999999"), meta.TagPolicy{}, "whole number"},
		{"fraction of days", form("keep_days", "1.5"), meta.TagPolicy{}, "from 1 to 3650"},
		{"too many days", form("keep_days", "3651"), meta.TagPolicy{}, "from 1 to 3650"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, p, err := readRules(tc.form)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !errdefs.IsInvalidArgument(err) {
					t.Fatalf("error %v, want one saying %q", err, tc.err)
				}
				if f.Immutable != tc.form.Get("immutable") || f.KeepLast != strings.TrimSpace(tc.form.Get("keep_last")) {
					t.Fatalf("the form is not shown again as typed: %+v", f)
				}
				return
			}
			if err != nil || !slices.Equal(p.Immutable, tc.want.Immutable) || p.KeepLast != tc.want.KeepLast ||
				p.KeepWithin != tc.want.KeepWithin || p.DropUntagged != tc.want.DropUntagged {
				t.Fatalf("read %+v, %v; want %+v", p, err, tc.want)
			}
			if back := formOf(p); back.KeepLast != f.KeepLast || back.KeepDays != f.KeepDays {
				t.Fatalf("the stored policy shows as %+v, typed %+v", back, f)
			}
		})
	}
}
