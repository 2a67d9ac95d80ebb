package web

import (
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// markdownCases are TestRenderMarkdown's table and FuzzRenderMarkdown's
// seeds: an overview, and what its page must show.
var markdownCases = map[string]string{
	"# Title\n\nSome **bold** text.":           "<h1>Title</h1>\n<p>Some <strong>bold</strong> text.</p>",
	"```sh\ndocker run x\n```":                 `<pre><code class="language-sh">docker run x`,
	"| a |\n|---|\n| 1 |":                      "<table>",
	"- [x] done":                               "<li> done</li>", // the checkbox is an input: left out
	"<script>alert(1)</script>":                "",
	"[x](javascript:alert(1))":                 "<p>x</p>",
	`<img src=x onerror=alert(1)>`:             "",
	`<a href="/x" onclick="alert(1)">x</a>`:    "",
	"<iframe src=//evil.example></iframe>":     "",
	"[x](https://example.com)":                 `<a href="https://example.com" rel="nofollow">x</a>`,
	"<style>body{display:none}</style>":        "",
	"![i](data:text/html;base64,PHNjcmlwdD4=)": `<p><img alt="i"></p>`,
}

func TestRenderMarkdown(t *testing.T) {
	for in, want := range markdownCases {
		if got := string(renderMarkdown(in)); !strings.Contains(got, want) || unsafeHTML(got) != "" {
			t.Errorf("renderMarkdown(%q) = %q, want it to hold %q (%s)", in, got, want, unsafeHTML(got))
		}
	}
}

// FuzzRenderMarkdown: whatever an overview says, its HTML has no element
// that runs or styles anything, no event handler, no style attribute, and
// links and images only to http(s), mailto or the hub itself.
func FuzzRenderMarkdown(f *testing.F) {
	for in := range markdownCases {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, md string) {
		out := string(renderMarkdown(md))
		if why := unsafeHTML(out); why != "" {
			t.Fatalf("renderMarkdown(%q) = %q: %s", md, out, why)
		}
	})
}

// unsafeHTML says what in s could run script, restyle the page or leave
// it by an unexpected scheme, "" when nothing.
func unsafeHTML(s string) string {
	z := html.NewTokenizer(strings.NewReader(s))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return ""
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			switch tok.Data {
			case "script", "style", "iframe", "object", "embed", "form", "link", "meta", "base", "svg", "math":
				return "element " + tok.Data
			}
			for _, a := range tok.Attr {
				key := strings.ToLower(a.Key)
				switch {
				case strings.HasPrefix(key, "on") || key == "style" || key == "srcdoc" || key == "formaction":
					return "attribute " + key
				case key == "href" || key == "src":
					u, err := url.Parse(strings.TrimSpace(a.Val))
					if err != nil {
						return "unparsable " + key
					}
					if sc := strings.ToLower(u.Scheme); sc != "" && sc != "http" && sc != "https" && sc != "mailto" {
						return key + " with scheme " + sc
					}
				}
			}
		}
	}
}
