package web

import (
	"bytes"
	"html/template"
	"regexp"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
)

// MaxOverview bounds a repository's overview (Markdown), in bytes.
const MaxOverview = 25000

var (
	// markdown renders GitHub-flavoured Markdown (tables, task lists,
	// strikethrough, autolinks); raw HTML in it is left out.
	markdown = goldmark.New(goldmark.WithExtensions(extension.GFM))
	// sanitizer keeps what user content may hold (bluemonday's UGC
	// policy: no scripts, styles, frames, forms or event handlers; links
	// get rel="nofollow"; code blocks keep their language class),
	// whatever the renderer let through.
	sanitizer = func() *bluemonday.Policy {
		p := bluemonday.UGCPolicy()
		p.AllowAttrs("class").Matching(regexp.MustCompile(`^language-[a-zA-Z0-9_+-]+$`)).OnElements("code")
		return p
	}()
)

// renderMarkdown is src as safe HTML for a page.
func renderMarkdown(src string) template.HTML {
	var b bytes.Buffer
	if err := markdown.Convert([]byte(src), &b); err != nil {
		return template.HTML(template.HTMLEscapeString(src))
	}
	return template.HTML(sanitizer.SanitizeBytes(b.Bytes()))
}
