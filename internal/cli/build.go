package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/distribution/reference"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/strata-dev/strata/internal/build"
	"github.com/strata-dev/strata/internal/build/remotecache"
	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/image"
	"github.com/strata-dev/strata/internal/remote/transfer"
	"github.com/strata-dev/strata/internal/store"
)

type buildFlags struct {
	tags      []string
	file      string
	buildArgs []string
	target    string
	noCache   bool
	pull      bool
	platform  string
	labels    []string
	quiet     bool
	progress  string
	network   string
	allow     []string
	secrets   []string
	ssh       []string
	iidfile   string
	outputs   []string
	push      bool
	load      bool
	addHosts  []string
	cacheFrom []string
	cacheTo   []string
	rm        bool
	forceRm   bool
}

// imageBuildCommand is `strata image build`, the same command in the image group.
func (a *app) imageBuildCommand() *cobra.Command {
	c := a.buildCommand()
	c.GroupID = ""
	return c
}

func (a *app) buildCommand() *cobra.Command {
	var f buildFlags
	cmd := &cobra.Command{
		Use:   "build [OPTIONS] PATH | -",
		Short: "Build an image from a Dockerfile",
		Long: `Build an image from a Dockerfile, as docker build does, without a daemon.

PATH is the build context: the directory that COPY and ADD read from, with
its .dockerignore; its Dockerfile is PATH/Dockerfile (else PATH/Containerfile)
unless -f says otherwise. PATH may also be a git repository, a URL or a
local path, with #REF:SUBDIR to pick a branch, tag or commit and a
directory in it. With "-", standard input is the context when it is a tar
(plain, gzip, bzip2 or zstd), else the Dockerfile, with no context; "-f -"
reads the Dockerfile from standard input for the context PATH.

Each RUN runs in a container (runc, as root) on the layers made so far;
each step that changes files adds a layer, the others only a history entry,
as Docker writes them. Steps are cached in the store: a step whose inputs
(the image it starts from, the instruction with its variables expanded, the
build args it sees, the contents of what it copies) have not changed is
taken from the cache instead of run, across builds and processes, until
'strata builder prune'. Multi-stage builds keep only the last stage's (or
--target's) layers. Progress goes to standard error; -q prints only the
image ID.`,
		Example: `  strata build -t app:1 .
  strata build -t app:dev -f docker/Dockerfile.dev --build-arg VERSION=1.2 .
  strata build --target test --no-cache .
  strata build -q - < Dockerfile
  tar -cz . | strata build -t app:1 -
  strata build -t app:1 https://example.com/team/app.git#v1.2:docker
  strata build --secret id=npmrc,src=$HOME/.npmrc -o type=local,dest=out .`,
		Args:    cobra.ExactArgs(1),
		GroupID: "images",
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.build(cmd.Context(), f, args[0])
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&f.tags, "tag", "t", nil, "name the image, NAME[:TAG] (repeatable)")
	fl.StringVarP(&f.file, "file", "f", "", "the Dockerfile (default PATH/Dockerfile; - for standard input)")
	fl.StringArrayVar(&f.buildArgs, "build-arg", nil, "set a build arg, KEY=VALUE (KEY alone takes it from the environment)")
	fl.StringVar(&f.target, "target", "", "build this stage, and what it needs, rather than the last")
	fl.BoolVar(&f.noCache, "no-cache", false, "run every step rather than take it from the cache")
	fl.BoolVar(&f.pull, "pull", false, "pull the FROM images even when they are in the store")
	fl.StringVar(&f.platform, "platform", "", "the platform to build for, os/arch[/variant] (default: this machine's)")
	fl.StringArrayVar(&f.labels, "label", nil, "add a label to the image, KEY=VALUE (repeatable)")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "print only the image ID, on success")
	fl.StringVar(&f.progress, "progress", "auto", "how to show progress: auto, plain or tty")
	fl.StringVar(&f.network, "network", "default", "the network of RUN steps: default (isolated: no reach into the host's loopback), none or host")
	fl.StringArrayVar(&f.allow, "allow", nil, "grant an entitlement: network.host (lets RUN --network=host use the host's network)")
	fl.StringArrayVar(&f.secrets, "secret", nil, "a secret for RUN --mount=type=secret: id=ID,src=FILE or id=ID,env=VAR (never stored in the image)")
	fl.StringArrayVar(&f.ssh, "ssh", nil, "an SSH agent for RUN --mount=type=ssh: default (SSH_AUTH_SOCK), ID=SOCKET or ID=KEYFILE[,KEYFILE]")
	fl.StringVar(&f.iidfile, "iidfile", "", "write the image ID to this file")
	fl.StringArrayVarP(&f.outputs, "output", "o", nil, "also write the result: type=local,dest=DIR, type=tar,dest=FILE, type=oci,dest=FILE or type=docker,dest=FILE")
	fl.BoolVar(&f.push, "push", false, "push the image's tags after the build")
	fl.BoolVar(&f.load, "load", false, "keep the image in the store (strata always does)")
	fl.StringArrayVar(&f.addHosts, "add-host", nil, "add a host to RUN steps' /etc/hosts, HOST:IP (repeatable)")
	fl.StringArrayVar(&f.cacheFrom, "cache-from", nil, "import a build cache first: type=registry,ref=NAME or type=local,src=DIR (BuildKit's cache manifest format)")
	fl.StringArrayVar(&f.cacheTo, "cache-to", nil, "export the build's cache: type=registry,ref=NAME or type=local,dest=DIR")
	fl.BoolVar(&f.rm, "rm", true, "remove the steps' containers (strata always does; taken for docker's scripts)")
	fl.BoolVar(&f.forceRm, "force-rm", false, "remove the containers of failed steps too (strata always does)")
	return cmd
}

// options turns the flags into build options; the Dockerfile is read from
// the context, the file named, or standard input.
func (a *app) buildOptions(f buildFlags, contextArg string, release *[]func()) (build.Options, error) {
	o := build.Options{Target: f.target, NoCache: f.noCache, Pull: f.pull, Network: f.network, Allow: f.allow,
		BuildArgs: map[string]string{}, Labels: map[string]string{}, Snapshotter: a.getenv("STRATA_SNAPSHOTTER"), Log: a.log}
	if err := a.buildSecrets(f, &o, release); err != nil {
		return o, err
	}
	for _, h := range f.addHosts {
		name, ip, ok := strings.Cut(h, ":")
		if eq := strings.Index(h, "="); eq >= 0 {
			name, ip, ok = h[:eq], h[eq+1:], true
		}
		if !ok || name == "" || net.ParseIP(ip) == nil {
			return o, fmt.Errorf("--add-host %s: want HOST:IP (host-gateway is not supported): %w", h, errdefs.ErrInvalidArgument)
		}
		o.AddHosts = append(o.AddHosts, name+":"+ip)
	}
	for _, t := range f.tags {
		tag, err := image.ParseTag(t)
		if err != nil {
			return o, fmt.Errorf("-t %s: %w", t, err)
		}
		o.Tags = append(o.Tags, tag)
	}
	for _, kv := range f.buildArgs {
		k, v, ok := strings.Cut(kv, "=")
		if k == "" {
			return o, fmt.Errorf("--build-arg %q: want KEY=VALUE: %w", kv, errdefs.ErrInvalidArgument)
		}
		if !ok {
			if v, ok = lookupEnv(a.getenv, k); !ok {
				continue // unset: as docker, the Dockerfile's default stands
			}
		}
		o.BuildArgs[k] = v
	}
	for _, kv := range f.labels {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return o, fmt.Errorf("--label %q: want KEY=VALUE: %w", kv, errdefs.ErrInvalidArgument)
		}
		o.Labels[k] = v
	}
	if f.platform != "" && !strings.Contains(f.platform, ",") {
		p, err := image.ParsePlatform(f.platform)
		if err != nil {
			return o, err
		}
		o.Platform = p
	}
	return o, nil
}

func lookupEnv(getenv func(string) string, k string) (string, bool) {
	v := getenv(k)
	return v, v != ""
}

// maxDockerfile bounds what is read as a Dockerfile.
const maxDockerfile = 16 << 20

// readDockerfile reads a Dockerfile, of at most maxDockerfile bytes.
func readDockerfile(r io.Reader, what string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxDockerfile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	if len(b) > maxDockerfile {
		return nil, fmt.Errorf("%s is over %d MiB: is it a Dockerfile? %w", what, maxDockerfile>>20, errdefs.ErrInvalidArgument)
	}
	return b, nil
}

// buildContext finds the context and reads the Dockerfile: a directory,
// a git repository (URL or path, #REF:SUBDIR) checked out into a
// temporary directory, a tar on standard input unpacked into one, or with
// "-" and no tar, a Dockerfile on standard input and no context. The
// Dockerfile is -f's file ("-" for standard input), else the context's.
// release removes what was made.
func (a *app) buildContext(ctx context.Context, o *build.Options, file, contextArg string) (release func(), err error) {
	release = func() {}
	in := bufio.NewReader(a.In)
	switch g, isGit := build.ParseGitContext(contextArg); {
	case contextArg == "-":
		head, _ := in.Peek(512)
		if !build.IsContextArchive(head) {
			if file != "" && file != "-" {
				return release, fmt.Errorf("-f %s: with PATH \"-\" and no tar, the Dockerfile comes on standard input: %w", file, errdefs.ErrInvalidArgument)
			}
			o.Dockerfile, err = readDockerfile(in, "the Dockerfile on standard input")
			return release, err
		}
		dir, err := os.MkdirTemp("", "strata-context-")
		if err != nil {
			return release, err
		}
		release = func() { os.RemoveAll(dir) }
		if err := build.ExtractContext(ctx, in, dir); err != nil {
			return release, err
		}
		o.ContextDir = dir
	case isGit:
		dir, err := os.MkdirTemp("", "strata-git-")
		if err != nil {
			return release, err
		}
		release = func() { os.RemoveAll(dir) }
		if o.ContextDir, err = g.Fetch(ctx, dir); err != nil {
			return release, err
		}
	case strings.Contains(contextArg, "://"):
		return release, fmt.Errorf("build context %s: strata builds from a directory, a git repository or a tar on standard input; download it first: %w", contextArg, errdefs.ErrInvalidArgument)
	default:
		o.ContextDir = contextArg
	}
	if file == "-" {
		o.Dockerfile, err = readDockerfile(in, "the Dockerfile on standard input")
		return release, err
	}
	var fh *os.File
	inContext := file == "" || o.ContextDir != contextArg // else -f names a path of the user's
	open := func(name string) (*os.File, error) {
		if inContext {
			rel, err := filepath.Rel(o.ContextDir, name)
			if err != nil || !filepath.IsLocal(rel) {
				rel = name
			}
			return os.OpenInRoot(o.ContextDir, rel)
		}
		return os.Open(name)
	}
	if file != "" && o.ContextDir != contextArg {
		fh, err = open(file) // -f names a file in the tar's or the repository's context
	} else {
		fh, err = openDockerfile(o.ContextDir, &file)
	}
	if err != nil {
		return release, fmt.Errorf("the Dockerfile: %w", err)
	}
	defer fh.Close()
	if o.Dockerfile, err = readDockerfile(fh, file); err != nil {
		return release, err
	}
	// A Dockerfile's own NAME.dockerignore, beside it, replaces the
	// context's .dockerignore, as in BuildKit.
	if ig, err := open(file + ".dockerignore"); err == nil {
		defer ig.Close()
		o.Dockerignore, err = readDockerfile(ig, file+".dockerignore")
		if o.Dockerignore == nil {
			o.Dockerignore = []byte{}
		}
		return release, err
	}
	return release, nil
}

// openDockerfile opens the Dockerfile: the file -f names, else the
// context's Dockerfile, else its Containerfile, each resolved inside the
// context (a symlink out of it is refused, as every path a build reads from
// its context). file is set to what was opened.
func openDockerfile(contextArg string, file *string) (*os.File, error) {
	if *file != "" {
		fh, err := os.Open(*file)
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("cannot read the Dockerfile %s: it does not exist: %w", *file, errdefs.ErrNotFound)
		}
		return fh, err
	}
	for _, name := range []string{"Dockerfile", "Containerfile"} {
		fh, err := os.OpenInRoot(contextArg, name)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		*file = filepath.Join(contextArg, name)
		if err != nil {
			return nil, fmt.Errorf("cannot read %s: %v (a symlink out of the build context is refused): %w", *file, err, errdefs.ErrInvalidArgument)
		}
		return fh, nil
	}
	*file = filepath.Join(contextArg, "Dockerfile")
	return nil, fmt.Errorf("cannot read the Dockerfile %s: it does not exist; name another with -f (without a Dockerfile, the context's Containerfile is read): %w", *file, errdefs.ErrNotFound)
}

func (a *app) build(ctx context.Context, f buildFlags, contextArg string) error {
	if a.getenv("GOGC") == "" {
		// A build is one short process: collecting garbage less often
		// spares it most stop-the-world pauses, which cost the most on a
		// busy machine.
		defer debug.SetGCPercent(debug.SetGCPercent(400))
	}
	var stops []func()
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	o, err := a.buildOptions(f, contextArg, &stops)
	if err != nil {
		return err
	}
	release, err := a.buildContext(ctx, &o, f.file, contextArg)
	defer release()
	if err != nil {
		return err
	}
	view, err := a.buildView(f)
	if err != nil {
		return err
	}
	o.Progress = view.event
	outs, err := parseOutputs(f.outputs)
	if err != nil {
		return err
	}
	var cacheFrom, cacheTo []cacheSpec
	for _, v := range f.cacheFrom {
		c, err := parseCacheSpec("--cache-from", v)
		if err != nil {
			return err
		}
		cacheFrom = append(cacheFrom, c)
	}
	for _, v := range f.cacheTo {
		c, err := parseCacheSpec("--cache-to", v)
		if err != nil {
			return err
		}
		cacheTo = append(cacheTo, c)
	}
	s, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	o.PullImage = func(ctx context.Context, ref reference.Named, p image.Platform) (store.Image, error) {
		return a.buildPull(ctx, s, ref, p, f.quiet)
	}
	if err := a.importCaches(ctx, s, cacheFrom, f.quiet); err != nil {
		return err
	}
	if strings.Contains(f.platform, ",") {
		platforms, err := parsePlatforms(f.platform)
		if err != nil {
			return err
		}
		results, err := a.buildPlatforms(ctx, s, o, f, platforms, outs)
		view.finish(err)
		if err != nil {
			return err
		}
		var records []remotecache.Record
		for _, r := range results {
			records = append(records, r.Records...)
		}
		return a.exportCaches(ctx, s, cacheTo, records, f.quiet)
	}
	res, err := build.Build(ctx, s, o)
	view.finish(err)
	var se *build.StepError
	if errors.As(err, &se) {
		fmt.Fprintln(a.Err, "Error:", err)
		return ExitError{Code: se.Code}
	}
	if err != nil {
		return err
	}
	if err := a.writeOutputs(ctx, s, f, outs, res); err != nil {
		return err
	}
	if err := a.exportCaches(ctx, s, cacheTo, res.Records, f.quiet); err != nil {
		return err
	}
	if f.quiet {
		fmt.Fprintln(a.Out, res.Image.ID)
	}
	return nil
}

// buildPull pulls an image that FROM names, showing plain progress.
func (a *app) buildPull(ctx context.Context, s *store.Store, ref reference.Named, p image.Platform, quiet bool) (store.Image, error) {
	client, err := a.registryClient()
	if err != nil {
		return store.Image{}, err
	}
	opts := transfer.PullOptions{Platform: p}
	if opts.Unpacker, err = a.pullUnpacker(s); err != nil {
		return store.Image{}, err
	}
	if !quiet {
		fmt.Fprintf(a.Err, "pulling %s\n", ref)
	}
	res, err := transfer.Pull(ctx, s, client, ref, opts)
	if err != nil {
		return store.Image{}, withLoginHint(fmt.Errorf("pull %s: %w", image.FamiliarString(ref), err), reference.Domain(ref))
	}
	return res.Image, nil
}

// buildView picks how progress shows: plain lines, or a terminal's view.
func (a *app) buildView(f buildFlags) (*buildProgress, error) {
	p := &buildProgress{w: a.Err, quiet: f.quiet}
	switch f.progress {
	case "plain":
	case "tty":
		p.tty = true
	case "auto", "":
		if fh, ok := a.Err.(*os.File); ok && term.IsTerminal(int(fh.Fd())) {
			p.tty = true
		}
	default:
		return nil, fmt.Errorf("--progress %q: want auto, plain or tty: %w", f.progress, errdefs.ErrInvalidArgument)
	}
	return p, nil
}
