package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"
)

// Docker's ways of writing sizes, times and IDs, so that strata's tables
// read the same as docker's.

// sizeString writes n bytes in decimal units with precision significant
// digits: "1.98MB", "0B", "512kB".
func sizeString(n int64, precision int) string {
	units := []string{"B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"}
	f := float64(n)
	i := 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	return fmt.Sprintf("%.*g%s", precision, f, units[i])
}

// humanDuration says how long d is in Docker's words: "3 days", "About an hour".
func humanDuration(d time.Duration) string {
	s := int(d.Seconds())
	switch {
	case s < 1:
		return "Less than a second"
	case s == 1:
		return "1 second"
	case s < 60:
		return fmt.Sprintf("%d seconds", s)
	}
	if m := int(d.Minutes()); m == 1 {
		return "About a minute"
	} else if m < 60 {
		return fmt.Sprintf("%d minutes", m)
	}
	h := int(d.Hours() + 0.5)
	switch {
	case h == 1:
		return "About an hour"
	case h < 48:
		return fmt.Sprintf("%d hours", h)
	case h < 24*7*2:
		return fmt.Sprintf("%d days", h/24)
	case h < 24*30*2:
		return fmt.Sprintf("%d weeks", h/24/7)
	case h < 24*365*2:
		return fmt.Sprintf("%d months", h/24/30)
	}
	return fmt.Sprintf("%d years", int(d.Hours())/24/365)
}

// since is "<duration> ago" for t, as the CREATED columns show it.
func since(t time.Time) string { return humanDuration(time.Now().UTC().Sub(t)) + " ago" }

// ellipsis cuts s to n runes, the last being "…", as Docker truncates columns.
func ellipsis(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// templateFuncs are the functions Docker's --format templates offer.
var templateFuncs = template.FuncMap{
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	"join":     strings.Join,
	"split":    strings.Split,
	"lower":    strings.ToLower,
	"upper":    strings.ToUpper,
	"title":    func(s string) string { return strings.ToUpper(s[:min(1, len(s))]) + s[min(1, len(s)):] },
	"pad":      func(s string, l, r int) string { return strings.Repeat(" ", l) + s + strings.Repeat(" ", r) },
	"truncate": func(s string, n int) string { return string([]rune(s)[:min(n, len([]rune(s)))]) },
	"println":  fmt.Sprintln,
}

// rowFormat is a --format as Docker reads it: "table ..." for a table with
// headers, "json" for one JSON object per row, else a template per row.
type rowFormat struct {
	tmpl  *template.Template
	table bool
	// columns is set when the format is only {{.Field}}s between tabs (as
	// the default tables are): rows are then written without the template,
	// which a thousand-row listing notices.
	columns []string
}

var plainColumns = regexp.MustCompile(`^\{\{\.(\w+)\}\}(\t\{\{\.(\w+)\}\})*$`)
var columnField = regexp.MustCompile(`\{\{\.(\w+)\}\}`)

func parseRowFormat(format, defaultTable string) (rowFormat, error) {
	switch {
	case format == "" || format == "table":
		format = defaultTable
	case format == "json":
		format = "{{json .}}"
	}
	table := strings.HasPrefix(format, "table ")
	if table {
		format = strings.TrimPrefix(format, "table ")
	}
	format = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(format)
	t, err := template.New("format").Funcs(templateFuncs).Option("missingkey=error").Parse(format)
	if err != nil {
		return rowFormat{}, fmt.Errorf("--format: %w", err)
	}
	f := rowFormat{tmpl: t, table: table}
	if plainColumns.MatchString(format) {
		for _, m := range columnField.FindAllStringSubmatch(format, -1) {
			f.columns = append(f.columns, m[1])
		}
	}
	return f, nil
}

// write prints rows (maps of column name to text) through the format; a
// table gets a header row from headers and aligned columns.
func (f rowFormat) write(w io.Writer, headers map[string]string, rows []map[string]string) error {
	out := w
	var tw *tabwriter.Writer
	if f.table {
		tw = tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)
		out = tw
		if err := f.line(out, headers); err != nil {
			return err
		}
	}
	for _, r := range rows {
		if err := f.line(out, r); err != nil {
			return err
		}
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}

func (f rowFormat) line(w io.Writer, data map[string]string) error {
	if f.columns != nil {
		cells := make([]string, len(f.columns))
		for i, c := range f.columns {
			v, ok := data[c]
			if !ok {
				return fmt.Errorf("--format: no field %q here", c)
			}
			cells[i] = v
		}
		_, err := io.WriteString(w, strings.Join(cells, "\t")+"\n")
		return err
	}
	var b strings.Builder
	if err := f.tmpl.Execute(&b, data); err != nil {
		return fmt.Errorf("--format: %w", err)
	}
	_, err := fmt.Fprintln(w, b.String())
	return err
}
