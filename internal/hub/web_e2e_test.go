package hub_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/strata-dev/strata/internal/hub"
	"github.com/strata-dev/strata/internal/hub/meta"
	"github.com/strata-dev/strata/internal/hub/webhook"
	"github.com/strata-dev/strata/internal/testutil"
)

// browser starts Debian's chromium, headless, with a fresh profile and
// nothing that reaches out to the internet.
func browser(t *testing.T) context.Context {
	t.Helper()
	bin := testutil.Tool(t, "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 860),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("no-first-run", true), chromedp.Flag("hide-scrollbars", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTime(); cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// webImage is a small image with a Dockerfile-like history: busybox, then
// two steps that add files and three that only set configuration.
func webImage(t *testing.T) v1.Image {
	t.Helper()
	img := busybox(t)
	for _, step := range []string{"COPY site/ /srv/www/ # buildkit", "RUN /bin/sh -c adduser -D web # buildkit"} {
		l, err := random.Layer(40_000, "application/vnd.docker.image.rootfs.diff.tar.gzip")
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.Append(img, mutate.Addendum{Layer: l, History: v1.History{CreatedBy: step, Created: v1.Time{Time: time.Now()}}}); err != nil {
			t.Fatal(err)
		}
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.History[0].CreatedBy = "ADD busybox.tar / # buildkit"
	for _, h := range []string{"ENV PORT=8080", "WORKDIR /srv/www", `CMD ["httpd", "-f", "-p", "8080"]`} {
		cf.History = append(cf.History, v1.History{CreatedBy: h + " # buildkit", EmptyLayer: true, Created: v1.Time{Time: time.Now()}})
	}
	cf.Config.Env = []string{"PATH=/bin", "PORT=8080"}
	cf.Config.WorkingDir = "/srv/www"
	cf.Created = v1.Time{Time: time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)}
	cf.Config.Cmd = []string{"httpd", "-f", "-p", "8080"}
	cf.Config.Labels = map[string]string{"org.opencontainers.image.title": "webapp", "org.opencontainers.image.source": "https://example.com/webapp"}
	img, err := mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// tour is a browser (see browser) with what a test does in it: take
// screenshots, run steps (failing the test on an error), read an element's text.
func tour(t *testing.T) (ctx context.Context, shot shots, run func(what string, steps ...chromedp.Action[chromedp.Void]),
	text func(sel string) string) {
	ctx = browser(t)
	dir := os.Getenv("STRATA_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	run = func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text = func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	return ctx, shots{t, ctx, dir}, run, text
}

// shots saves screenshots where STRATA_SCREENSHOTS says (the README's
// are made so), else in a temporary directory.
type shots struct {
	t   *testing.T
	ctx context.Context
	dir string
}

func (s shots) take(name string) {
	s.t.Helper()
	png, err := chromedp.Run(s.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		s.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, name+".png"), png, 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// A person in a real browser: sign up, create a private repository, make
// a token, push with strata using it, see the tags and layers, make the
// repository public, and pull it anonymously. Screenshots of the main pages
// are saved on the way.
func TestWebEndToEnd(t *testing.T) {
	ctx, shot, run, text := tour(t)
	h := testutil.StartAccountsHub(t, hub.Config{Webhooks: webhook.Options{AllowPrivate: true}}, [2]string{"ops", "ops-pass-12"})
	receiver := newReceiver(t, "e2e-secret", 0)
	if err := h.Deps.Auth.SetSignup(context.Background(), true); err != nil { // as ops would, on the admin page
		t.Fatal(err)
	}
	u := h.URL()

	run("sign up", chromedp.Navigate(u+"/signup"), chromedp.WaitVisible(chromedp.CSS("input[name=name]")))
	shot.take("signup")
	run("sign up", chromedp.SendKeys(chromedp.CSS("input[name=name]"), "alice"),
		chromedp.SendKeys(chromedp.CSS("input[name=password]"), "alice-pass-1"),
		chromedp.SendKeys(chromedp.CSS("input[name=confirm]"), "alice-pass-1"),
		chromedp.Click(chromedp.CSS("button.primary")), chromedp.WaitVisible(chromedp.CSS("a.who")))
	if got := text("a.who"); !strings.Contains(got, "alice") {
		t.Fatalf("after sign-up the header says %q", got)
	}

	run("create a private repository", chromedp.Navigate(u+"/new"), chromedp.WaitVisible(chromedp.CSS("input[name=name]")),
		chromedp.SendKeys(chromedp.CSS("input[name=name]"), "webapp"),
		chromedp.SendKeys(chromedp.CSS("textarea[name=description]"), "A tiny web server on busybox, built for the strata hub tour."),
		chromedp.Click(chromedp.CSS("input[value=private]")))
	shot.take("new-repository")
	run("create", chromedp.Click(chromedp.CSS("button.primary")), chromedp.WaitVisible(chromedp.CSS("h1.repo-title")))
	if got := text("h1.repo-title"); !strings.Contains(got, "alice/webapp") || !strings.Contains(got, "Private") {
		t.Fatalf("new repository page: %q", got)
	}

	run("make a token", chromedp.Navigate(u+"/settings"), chromedp.WaitVisible(chromedp.CSS("input[name=name]")),
		chromedp.SendKeys(chromedp.CSS("input[name=name]"), "laptop"),
		chromedp.Click(chromedp.CSS("form[action='/settings/tokens'] button")), chromedp.WaitVisible(chromedp.CSS("#new-token")))
	token := strings.TrimSpace(text("#new-token"))
	if !strings.HasPrefix(token, "strata_pat_") {
		t.Fatalf("the new token reads %q", token)
	}
	shot.take("settings")

	// strata pushes with the token; anonymous pulls are refused while private.
	s := newStrata(t)
	archive := filepath.Join(t.TempDir(), "webapp.tar")
	ref, _ := name.ParseReference(h.Addr + "/alice/webapp:1.0")
	if err := tarball.WriteToFile(archive, ref, webImage(t)); err != nil {
		t.Fatal(err)
	}
	s.must(t, "", "load", "-i", archive)
	s.must(t, token, "login", "-u", "alice", "--password-stdin", h.Addr)
	s.must(t, "", "push", h.Addr+"/alice/webapp:1.0")
	s.must(t, "", "tag", h.Addr+"/alice/webapp:1.0", h.Addr+"/alice/webapp:latest")
	s.must(t, "", "push", h.Addr+"/alice/webapp:latest")
	anon := newStrata(t)
	anon.mustFail(t, "HTTP 401", "pull", h.Addr+"/alice/webapp:1.0")

	run("write the overview", chromedp.Navigate(u+"/r/alice/webapp"), chromedp.WaitVisible(chromedp.CSS("textarea[name=overview]")),
		chromedp.SendKeys(chromedp.CSS("textarea[name=overview]"), "## webapp\n\nServes **/srv/www** on port 8080:\n\n"+
			"```sh\ndocker run -p 8080:8080 "+h.Addr+"/alice/webapp\n```\n<script>document.title='owned'</script>\n"),
		chromedp.Click(chromedp.CSS("form[action$='/-/overview'] button")), chromedp.WaitVisible(chromedp.CSS(".markdown h2")))
	if got := text(".markdown"); !strings.Contains(got, "Serves /srv/www on port 8080") || !strings.Contains(got, "docker run -p 8080:8080") {
		t.Fatalf("the overview reads:\n%s", got)
	}
	if title, err := chromedp.Run(ctx, chromedp.Title()); err != nil || title == "owned" {
		t.Fatalf("the overview's script ran: title %q, %v", title, err)
	}
	run("repository page", chromedp.Navigate(u+"/r/alice/webapp"), chromedp.WaitVisible(chromedp.CSS("table.tags")))
	tags := text("table.tags")
	for _, want := range []string{"1.0", "latest", "linux/amd64", "MB"} {
		if !strings.Contains(tags, want) {
			t.Fatalf("the tags table lacks %q:\n%s", want, tags)
		}
	}
	shot.take("repository")
	run("tag page", chromedp.Click(chromedp.CSS("a.tag")), chromedp.WaitVisible(chromedp.CSS("ol.layers")))
	layers := text("ol.layers")
	for _, want := range []string{"ADD busybox.tar /", "COPY site/ /srv/www/", "RUN adduser -D web", "WORKDIR /srv/www", "0 B"} {
		if !strings.Contains(layers, want) {
			t.Fatalf("the layers lack %q:\n%s", want, layers)
		}
	}
	if cfg := text("aside .kv"); !strings.Contains(cfg, "httpd -f -p 8080") || !strings.Contains(cfg, "PORT=8080") {
		t.Fatalf("the configuration reads:\n%s", cfg)
	}
	shot.take("tag")

	run("add a webhook", chromedp.Navigate(u+"/r/alice/webapp"), chromedp.WaitVisible(chromedp.CSS("input[name=url]")),
		chromedp.SendKeys(chromedp.CSS("input[name=url]"), receiver.URL+"/hook"),
		chromedp.SendKeys(chromedp.CSS("input[name=secret]"), "e2e-secret"),
		chromedp.Click(chromedp.CSS("form[action$='/-/webhooks'] button")), chromedp.WaitVisible(chromedp.CSS(".notice.ok")))
	run("make it public", chromedp.Navigate(u+"/r/alice/webapp"), chromedp.WaitVisible(chromedp.CSS("form[action$='/-/visibility'] button")),
		chromedp.Click(chromedp.CSS("form[action$='/-/visibility'] button")), chromedp.WaitVisible(chromedp.CSS(".notice.ok")))
	if got := text("h1.repo-title"); !strings.Contains(got, "Public") {
		t.Fatalf("after making it public: %q", got)
	}
	anon.must(t, "", "pull", h.Addr+"/alice/webapp:1.0")
	if got := receiver.wait(1); got[0].Event != webhook.Visibility || got[0].Visibility != "public" {
		t.Fatalf("the webhook got %+v", got)
	}
	h.Deps.Webhooks.Wait()
	// From another page: a navigation to #webhooks of the page the browser
	// shows would not load it again, and that page was made when the
	// delivery was still pending.
	run("the webhook's deliveries", chromedp.Navigate("about:blank"), chromedp.Navigate(u+"/r/alice/webapp#webhooks"),
		chromedp.WaitVisible(chromedp.CSS("tr.delivery")))
	if got := text("table.deliveries"); !strings.Contains(got, "visibility") || !strings.Contains(got, "ok") || !strings.Contains(got, "204") {
		t.Fatalf("the delivery log reads:\n%s", got)
	}
	if err := h.Deps.Pulls.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	run("pulls", chromedp.Navigate(u+"/r/alice/webapp"), chromedp.WaitVisible(chromedp.CSS(".pulls")))
	if got := text(".pulls"); !strings.Contains(got, "pull") || !strings.Contains(got, "the last just now") {
		t.Fatalf("the repository's pulls read %q", got)
	}

	run("dashboard", chromedp.Navigate(u+"/"), chromedp.WaitVisible(chromedp.CSS("ul.repos")))
	shot.take("dashboard")
	run("sign out", chromedp.Click(chromedp.CSS("form[action='/signout'] button")), chromedp.WaitVisible(chromedp.CSS("a[href='/signin']")))
	run("explore", chromedp.Navigate(u+"/explore?q=web"), chromedp.WaitVisible(chromedp.CSS("ul.repos")))
	if got := text("ul.repos"); !strings.Contains(got, "alice/webapp") {
		t.Fatalf("explore?q=web lists:\n%s", got)
	}
	shot.take("explore")
	run("sign in as the administrator", chromedp.Navigate(u+"/signin"), chromedp.WaitVisible(chromedp.CSS("input[name=name]")))
	shot.take("signin")
	run("sign in", chromedp.SendKeys(chromedp.CSS("input[name=name]"), "ops"),
		chromedp.SendKeys(chromedp.CSS("input[name=password]"), "ops-pass-12"),
		chromedp.Click(chromedp.CSS("button.primary")), chromedp.WaitVisible(chromedp.CSS("a.who")),
		chromedp.Navigate(u+"/admin"), chromedp.WaitVisible(chromedp.CSS(".stats")))
	if got := text("table"); !strings.Contains(got, "alice") || !strings.Contains(got, "ops") {
		t.Fatalf("the admin's user list:\n%s", got)
	}
	shot.take("admin")
	run("audit log", chromedp.Click(chromedp.CSS("a[href='/admin/audit']")), chromedp.WaitVisible(chromedp.CSS("table.audit")))
	log := text("table.audit")
	for _, want := range []string{"push", "alice/webapp:1.0", "repository.visibility", "webhook.create", "token.create", "signin", "127.0.0.1"} {
		if !strings.Contains(log, want) {
			t.Fatalf("the audit log lacks %q:\n%s", want, log)
		}
	}
	shot.take("audit")
}

// An organization in a real browser: alice makes acme, adds bob as a
// member, a team with him in it, a private repository of acme, and gives
// the team write on it; bob then finds it on his dashboard and the team's
// page, and pushes to it with strata.
func TestWebOrgEndToEnd(t *testing.T) {
	ctx, shot, run, text := tour(t)
	h := testutil.StartAccountsHub(t, hub.Config{}, [2]string{"ops", "ops-pass-12"}, [2]string{"alice", "alice-pass-1"},
		[2]string{"bob", "bob-pass-12"})
	u := h.URL()
	signIn := func(user, password string) {
		t.Helper()
		run("sign in as "+user, chromedp.Navigate(u+"/signin"), chromedp.WaitVisible(chromedp.CSS("input[name=name]")),
			chromedp.SendKeys(chromedp.CSS("input[name=name]"), user), chromedp.SendKeys(chromedp.CSS("input[name=password]"), password),
			chromedp.Click(chromedp.CSS("button.primary")), chromedp.WaitVisible(chromedp.CSS("a.who")))
	}

	signIn("alice", "alice-pass-1")
	run("make an organization", chromedp.Click(chromedp.CSS("a[href='/orgs/new']")), chromedp.WaitVisible(chromedp.CSS("input[name=name]")),
		chromedp.SendKeys(chromedp.CSS("input[name=name]"), "acme"), chromedp.Click(chromedp.CSS("button.primary")),
		chromedp.WaitVisible(chromedp.CSS("#members")))
	run("add bob", chromedp.SendKeys(chromedp.CSS("form[action='/o/acme/-/members'] input[name=user]"), "bob"),
		chromedp.Click(chromedp.CSS("form[action='/o/acme/-/members'] button")),
		chromedp.WaitReady(chromedp.CSS("form[action='/o/acme/-/members/remove'] input[value=bob]")))
	if got := text("#members"); !strings.Contains(got, "alice") || !strings.Contains(got, "owner") || !strings.Contains(got, "bob") {
		t.Fatalf("the members read:\n%s", got)
	}
	run("make a team", chromedp.SendKeys(chromedp.CSS("form[action='/o/acme/-/teams'] input[name=team]"), "devs"),
		chromedp.SendKeys(chromedp.CSS("form[action='/o/acme/-/teams'] input[name=description]"), "Builds and ships the web app"),
		chromedp.Click(chromedp.CSS("form[action='/o/acme/-/teams'] button")), chromedp.WaitVisible(chromedp.CSS("#grants")))
	run("put bob in it", chromedp.SendKeys(chromedp.CSS("form[action='/o/acme/-/team/members'] input[name=user]"), "bob"),
		chromedp.Click(chromedp.CSS("form[action='/o/acme/-/team/members'] button")),
		chromedp.WaitReady(chromedp.CSS("form[action='/o/acme/-/team/members/remove'] input[value=bob]")))
	run("a repository of acme", chromedp.Navigate(u+"/new?namespace=acme"), chromedp.WaitVisible(chromedp.CSS("input[name=name]")),
		chromedp.SendKeys(chromedp.CSS("input[name=name]"), "app"), chromedp.Click(chromedp.CSS("input[value=private]")),
		chromedp.Click(chromedp.CSS("button.primary")), chromedp.WaitVisible(chromedp.CSS("h1.repo-title")))
	if got := text("h1.repo-title"); !strings.Contains(got, "acme/app") || !strings.Contains(got, "Private") {
		t.Fatalf("the new repository: %q", got)
	}
	run("grant it", chromedp.Navigate(u+"/o/acme/t/devs"), chromedp.WaitVisible(chromedp.CSS("#grants")),
		chromedp.SetValue(chromedp.CSS("form[action='/o/acme/-/team/grants'] select[name=role]"), "write"),
		chromedp.Click(chromedp.CSS("form[action='/o/acme/-/team/grants'] button")), chromedp.WaitVisible(chromedp.CSS("#grants table")))
	if got := text("#grants table"); !strings.Contains(got, "acme/app") || !strings.Contains(got, "write") {
		t.Fatalf("the team's repositories:\n%s", got)
	}
	shot.take("team")
	run("the organization's page", chromedp.Navigate(u+"/o/acme"), chromedp.WaitVisible(chromedp.CSS("#teams")))
	shot.take("organization")

	run("sign out", chromedp.Click(chromedp.CSS("form[action='/signout'] button")), chromedp.WaitVisible(chromedp.CSS("a[href='/signin']")))
	signIn("bob", "bob-pass-12")
	run("bob's dashboard", chromedp.Navigate(u+"/"), chromedp.WaitVisible(chromedp.CSS("ul.repos")))
	if got := text("main"); !strings.Contains(got, "acme/app") || !strings.Contains(got, "acme") {
		t.Fatalf("bob's dashboard:\n%s", got)
	}
	run("bob's team", chromedp.Navigate(u+"/o/acme/t/devs"), chromedp.WaitVisible(chromedp.CSS("#grants")))
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("form[action^='/o/acme/-/']").length`)); err != nil || n != 0 {
		t.Fatalf("a member gets %d of the owners' forms (%v)", n, err)
	}
	s := newStrata(t)
	archive := filepath.Join(t.TempDir(), "app.tar")
	ref, _ := name.ParseReference(h.Addr + "/acme/app:1.0")
	if err := tarball.WriteToFile(archive, ref, webImage(t)); err != nil {
		t.Fatal(err)
	}
	s.must(t, "", "load", "-i", archive)
	s.must(t, "bob-pass-12", "login", "-u", "bob", "--password-stdin", h.Addr)
	s.must(t, "", "push", h.Addr+"/acme/app:1.0")
	run("the pushed tag", chromedp.Navigate(u+"/r/acme/app"), chromedp.WaitVisible(chromedp.CSS("table.tags")))
	if got := text("table.tags"); !strings.Contains(got, "1.0") {
		t.Fatalf("acme/app's tags:\n%s", got)
	}
}

// Tag rules in a real browser: alice makes tag 1 immutable and keeps the
// most recent tag, dropping untagged manifests, is told what is wrong with
// a bad number, previews what retention would delete (tag 2 and its
// image) and deletes it.
func TestWebTagRulesEndToEnd(t *testing.T) {
	_, shot, run, text := tour(t)
	// A grace of a millisecond: tag 2's image, untagged, goes with it at once.
	h := testutil.StartAccountsHub(t, hub.Config{GCGrace: time.Millisecond}, [2]string{"alice", "alice-pass-1"})
	for _, tag := range []string{"1", "2", "3"} {
		time.Sleep(2 * time.Millisecond)
		if err := pushAs(t, h.Addr+"/alice/app:"+tag, "alice", "alice-pass-1", randomImage(t, 1)); err != nil {
			t.Fatal(err)
		}
	}
	u := h.URL()
	run("sign in", chromedp.Navigate(u+"/signin"), chromedp.WaitVisible(chromedp.CSS("input[name=name]")),
		chromedp.SendKeys(chromedp.CSS("input[name=name]"), "alice"), chromedp.SendKeys(chromedp.CSS("input[name=password]"), "alice-pass-1"),
		chromedp.Click(chromedp.CSS("button.primary")), chromedp.WaitVisible(chromedp.CSS("a.who")))
	run("the rules page", chromedp.Navigate(u+"/r/alice/app"), chromedp.WaitVisible(chromedp.CSS("#tag-rules a")),
		chromedp.Click(chromedp.CSS("#tag-rules a")), chromedp.WaitVisible(chromedp.CSS("#tagrules-form")))
	if got := text("#dry-run"); !strings.Contains(got, "Nothing") {
		t.Fatalf("with no rules the dry run reads:\n%s", got)
	}
	run("a bad number", chromedp.SendKeys(chromedp.CSS("textarea[name=immutable]"), "1"),
		chromedp.SendKeys(chromedp.CSS("input[name=keep_last]"), "-5"),
		chromedp.Click(chromedp.CSS("#tagrules-form button")), chromedp.WaitVisible(chromedp.CSS(".notice.err")))
	if got := text(".notice.err"); !strings.Contains(got, "whole number from 1 to 10000") {
		t.Fatalf("the error reads %q", got)
	}
	run("fix it", chromedp.SetValue(chromedp.CSS("input[name=keep_last]"), "1"),
		chromedp.Click(chromedp.CSS("input[name=drop_untagged]")),
		chromedp.Click(chromedp.CSS("#tagrules-form button")), chromedp.WaitVisible(chromedp.CSS(".notice.ok")),
		chromedp.WaitVisible(chromedp.CSS("tr.plan-tag")))
	if got := text("#dry-run"); !strings.Contains(got, "tag 2") || strings.Contains(got, "tag 1") || strings.Contains(got, "tag 3") ||
		!strings.Contains(got, "manifest (untagged)") {
		t.Fatalf("the dry run reads:\n%s", got)
	}
	shot.take("tagrules")
	run("delete now", chromedp.Click(chromedp.CSS("form[action$='/tagrules/run'] button")), chromedp.WaitVisible(chromedp.CSS("#nothing-to-delete")))
	if got := text(".notice.ok"); !strings.Contains(got, "Retention deleted 1 tag and 1 manifest") {
		t.Fatalf("after the run: %q", got)
	}
	if tags, _, _ := h.Deps.Meta.Tags(context.Background(), "alice/app", meta.Page{N: -1}); strings.Join(tags, ",") != "1,3" {
		t.Fatalf("tags left: %v", tags)
	}
}
