package web

import (
	"bytes"
	"html/template"
	"regexp"
	"sync"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
)

// MaxOverview bounds a repository's overview (Markdown), in bytes.
const MaxOverview = 25000

// markdownRenderer renders GitHub-flavoured Markdown (tables, task lists,
// strikethrough, autolinks), raw HTML in it left out, and sanitizes what it
// made with bluemonday's UGC policy (no scripts, styles, frames, forms or
// event handlers; links get rel="nofollow"; code blocks keep their
// language class). Both are made on first use: their dozens of regular
// expressions would otherwise be compiled at the start of every strata
// command, most of which render no page.
var markdownRenderer = sync.OnceValues(func() (goldmark.Markdown, *bluemonday.Policy) {
	p := bluemonday.UGCPolicy()
	p.AllowAttrs("class").Matching(regexp.MustCompile(`^language-[a-zA-Z0-9_+-]+$`)).OnElements("code")
	return goldmark.New(goldmark.WithExtensions(extension.GFM)), p
})

// renderMarkdown is src as safe HTML for a page.
func renderMarkdown(src string) template.HTML {
	markdown, sanitizer := markdownRenderer()
	var b bytes.Buffer
	if err := markdown.Convert([]byte(src), &b); err != nil {
		return template.HTML(template.HTMLEscapeString(src))
	}
	return template.HTML(sanitizer.SanitizeBytes(b.Bytes()))
}
