package build

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/opencontainers/go-digest"

	"github.com/strata-dev/strata/internal/build/remotecache"
	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/image"
	"github.com/strata-dev/strata/internal/runtime"
	"github.com/strata-dev/strata/internal/runtime/container"
	"github.com/strata-dev/strata/internal/store"
)

// change is what a step did: the config it edits, its history entry, and
// what it changed in the files (nil for a step on the config alone).
type change struct {
	edit    func(c *image.ContainerConfig)
	history string
	diff    *container.Diff
}

// key is the cache key of a step of s: the config and chainID it starts
// from, and what the step is (the instruction expanded, the build args it
// sees, the digests of what it copies).
func (b *builder) key(s *state, parts ...string) digest.Digest {
	cb, _ := json.Marshal(s.cfg)
	h := sha256.New()
	fmt.Fprintf(h, "strata build cache 1\n%s\n%s\n", digest.FromBytes(cb), image.ChainID(s.diffIDs()))
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return digest.NewDigestFromBytes(digest.SHA256, h.Sum(nil))
}

// do runs one step: from the cache when its key is there (unless
// --no-cache), else with fn, whose result it stores and caches.
func (b *builder) do(ctx context.Context, s *state, text string, key digest.Digest, fn func(id int) (change, error)) error {
	id := b.begin(s, text)
	start := time.Now()
	b.res.Steps++
	before := len(s.layers)
	if !b.o.NoCache {
		hit, err := b.fromCache(ctx, s, key)
		if err != nil {
			return err
		}
		if hit {
			b.record(s, key, before)
			b.res.Cached++
			b.emit(Event{Kind: StepCached, ID: id, Stage: s.label, N: s.n, Of: s.of, Text: text})
			return nil
		}
	}
	if s.at < s.runsUntil { // a RUN on the default network is due
		b.network.start(b.m, b.o.Log)
	}
	ch, err := fn(id)
	if err != nil {
		if ch.diff != nil {
			ch.diff.Close()
		}
		return err
	}
	if err := b.commit(ctx, s, key, ch); err != nil {
		return err
	}
	b.record(s, key, before)
	b.emit(Event{Kind: StepDone, ID: id, Stage: s.label, N: s.n, Of: s.of, Text: text, Elapsed: time.Since(start)})
	return nil
}

// record notes the step that just brought s where it is, for --cache-to:
// its key, the config it left, and the layer it made, if s has more than
// the before it had.
func (b *builder) record(s *state, key digest.Digest, before int) {
	cb, _ := json.Marshal(s.cfg)
	r := remotecache.Record{Key: key, Parent: s.lastKey, Config: cb}
	if len(s.layers) > before {
		l := s.layers[len(s.layers)-1]
		r.Layer = &l
	}
	b.res.Records = append(b.res.Records, r)
	s.lastKey = key
}

// fromCache takes the step's result from the cache, if it is there whole.
func (b *builder) fromCache(ctx context.Context, s *state, key digest.Digest) (bool, error) {
	e, err := b.st.Cache(ctx, key)
	if errdefs.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	cfg, err := image.ParseConfig(e.Config)
	if err != nil {
		return false, err
	}
	want := s.diffIDs()
	if e.Layer != nil {
		want = append(append([]digest.Digest{}, want...), e.Layer.DiffID)
	}
	if !slices.Equal(cfg.RootFS.DiffIDs, want) {
		return false, nil
	}
	s.cfg = *cfg
	if e.Layer != nil {
		s.layers = append(s.layers, *e.Layer)
	}
	return true, nil
}

// commit makes the step's change the stage's new state: the config with
// its history entry, and its layer, if it made one, unpacked as the
// snapshot the next step runs on. The change's diff is commit's to close.
//
// The layer's blob is stored (gzipped, digested, synced) and the step
// cached under key in the background (storeLayer), while the steps after
// it run: they need its files and diffID, which are at hand, not its blob,
// which the image's manifest needs once every stage is built (settle).
// A step that changes the config alone is cached at once.
func (b *builder) commit(ctx context.Context, s *state, key digest.Digest, ch change) error {
	next := cloneConfig(s.cfg)
	if ch.edit != nil {
		ch.edit(&next.Config)
	}
	now := time.Now().UTC()
	next.Created, next.Author = &now, s.maintainer
	h := image.History{Created: &now, CreatedBy: ch.history, Author: s.maintainer, EmptyLayer: true}
	layered := ch.diff != nil && len(ch.diff.Changes) > 0
	if !layered {
		if ch.diff != nil {
			ch.diff.Close()
		}
		next.History = append(next.History, h)
		cb, err := json.Marshal(next)
		if err != nil {
			return err
		}
		if err := b.st.PutCache(ctx, store.CacheEntry{Key: key, Config: cb}); err != nil {
			return err
		}
		s.cfg = next
		return nil
	}
	h.EmptyLayer = false
	diffID := ch.diff.DiffID
	next.RootFS.DiffIDs = append(next.RootFS.DiffIDs, diffID)
	next.History = append(next.History, h)
	cb, err := json.Marshal(next)
	if err == nil {
		_, err = b.m.UnpackDiff(ctx, ch.diff, s.diffIDs(), diffID)
	}
	if err != nil {
		ch.diff.Close()
		return err
	}
	if err := b.storeLayer(ctx, key, cb, ch.diff); err != nil {
		return err
	}
	s.layers = append(s.layers, store.Layer{DiffID: diffID}) // the rest once stored
	s.cfg = next
	return nil
}

// pendingLayer is a step's layer whose blob is being stored: written
// (its facts known, layer set, or err) before it is done (committed and
// cached, or err).
type pendingLayer struct {
	written, done chan struct{}
	layer         store.Layer
	writeErr      error // set before written closes
	err           error // set before done closes
}

// storeLayer stores the diff as a layer blob and caches the step under key
// with config cb, in the background; it closes the diff. known and settle
// wait for it. GC is held off from before the blob is written until the
// step's cache entry records it.
func (b *builder) storeLayer(ctx context.Context, key digest.Digest, cb []byte, diff *container.Diff) error {
	release, err := b.st.Writing()
	if err != nil {
		diff.Close()
		return err
	}
	p := &pendingLayer{written: make(chan struct{}), done: make(chan struct{})}
	b.pending = append(b.pending, p)
	go func() {
		defer close(p.done)
		defer release()
		defer diff.Close()
		w, err := diff.Write(ctx, b.st)
		if err != nil {
			p.writeErr, p.err = err, err
			close(p.written)
			return
		}
		p.layer = w.Layer
		close(p.written)
		err = w.Commit(ctx)
		if err == nil {
			err = b.st.PutCache(ctx, store.CacheEntry{Key: key, Config: cb, Layer: &w.Layer})
		}
		p.err = err
	}()
	return nil
}

// known waits until the layers being stored are written, and fills in what
// writing them found (the blob, the sizes) wherever the build holds them:
// the stages' layers and the records for --cache-to. Their blobs may not
// be durable yet (settle).
func (b *builder) known() error {
	var errs []error
	written := map[digest.Digest]store.Layer{}
	for _, p := range b.pending {
		<-p.written
		if p.writeErr != nil {
			errs = append(errs, fmt.Errorf("store a layer: %w", p.writeErr))
			continue
		}
		written[p.layer.DiffID] = p.layer
	}
	fill := func(l *store.Layer) {
		if w, ok := written[l.DiffID]; ok && l.Blob.Digest == "" {
			*l = w
		}
	}
	for _, s := range b.stages {
		for i := range s.layers {
			fill(&s.layers[i])
		}
	}
	for _, r := range b.res.Records {
		if r.Layer != nil {
			fill(r.Layer)
		}
	}
	return errors.Join(errs...)
}

// settle waits until the layers being stored are durable and their steps
// cached, filling them in as known does.
func (b *builder) settle() error {
	if err := b.known(); err != nil {
		for _, p := range b.pending {
			<-p.done
		}
		b.pending = nil
		return err
	}
	var errs []error
	for _, p := range b.pending {
		<-p.done
		if p.err != nil {
			errs = append(errs, fmt.Errorf("store a layer: %w", p.err))
		}
	}
	b.pending = nil
	return errors.Join(errs...)
}

// settleAfter settles the layers being stored once the build failed with
// err, and returns err, with why a layer could not be stored if one could
// not.
func (b *builder) settleAfter(err error) error {
	if serr := b.settle(); serr != nil {
		return errors.Join(err, serr)
	}
	return err
}

// dispatch runs one instruction, its variables expanded first.
func (b *builder) dispatch(ctx context.Context, s *state, c instructions.Command) error {
	env := s.args.expandEnv(s.cfg.Config.Env)
	expand := func(w string) (string, error) {
		r, _, err := b.df.lex.ProcessWord(w, env)
		return r, err
	}
	if ex, ok := c.(instructions.SupportsSingleWordExpansion); ok {
		if err := ex.Expand(expand); err != nil {
			return err
		}
	}
	if ex, ok := c.(instructions.SupportsSingleWordExpansionRaw); ok {
		if err := ex.ExpandRaw(expand); err != nil {
			return err
		}
	}
	switch c := c.(type) {
	case *instructions.RunCommand:
		return b.run(ctx, s, c)
	case *instructions.CopyCommand:
		return b.copy(ctx, s, copyCommand(c))
	case *instructions.AddCommand:
		return b.copy(ctx, s, addCommand(c))
	case *instructions.WorkdirCommand:
		return b.workdir(ctx, s, c)
	case *instructions.ExposeCommand:
		ports, err := b.exposed(c, env)
		if err != nil {
			return err
		}
		c.Ports = ports
	}
	ch, err := configChange(s, c, b.args)
	if err != nil {
		return err
	}
	return b.do(ctx, s, commandText(c), b.key(s, "config", ch.history), func(int) (change, error) { return ch, nil })
}

// commandText is how progress shows an instruction.
func commandText(c instructions.Command) string {
	if s, ok := c.(fmt.Stringer); ok && s.String() != "" {
		return s.String()
	}
	if l, ok := c.(*instructions.LabelCommand); ok {
		var kv []string
		for _, p := range l.Labels {
			kv = append(kv, p.String())
		}
		return "LABEL " + strings.Join(kv, " ")
	}
	return strings.ToUpper(c.Name())
}

// networkDefault is the isolated default network: outbound access, no
// reach into the host's loopback.
const networkDefault = "default"

// runNetwork is the network of RUN c: RUN --network, else the build's.
// The host's network is an entitlement, as in BuildKit: a Dockerfile
// asks for it, the one who builds grants it (--allow network.host, or
// --network host for the whole build).
func (b *builder) runNetwork(c *instructions.RunCommand) (string, error) {
	n := string(instructions.GetNetwork(c))
	if n == "" || n == instructions.NetworkDefault {
		n = b.o.Network
	}
	if n == "host" && b.o.Network != "host" && !slices.Contains(b.o.Allow, "network.host") {
		return "", fmt.Errorf("RUN --network=host uses the host's network: grant it with --allow network.host: %w", errdefs.ErrInvalidArgument)
	}
	return n, nil
}

// onDefaultNetwork reports whether RUN c runs on the default network.
func (b *builder) onDefaultNetwork(c *instructions.RunCommand) bool {
	n := string(instructions.GetNetwork(c))
	return (n == "" || n == instructions.NetworkDefault) && b.o.Network == networkDefault
}

// stepNetwork is the network a step's container asks for.
func stepNetwork(n string) string {
	if n == networkDefault {
		return ""
	}
	return n
}

// checkRunFlags refuses the RUN flags strata does not honour.
func checkRunFlags(c *instructions.RunCommand) error {
	for _, f := range c.FlagsUsed {
		switch f {
		case "mount", "network":
		case "security":
			if instructions.GetSecurity(c) != instructions.SecuritySandbox {
				return fmt.Errorf("RUN --security=%s is not supported by strata: steps run with Docker's default confinement: %w", instructions.GetSecurity(c), errdefs.ErrInvalidArgument)
			}
		default:
			return fmt.Errorf("RUN --%s is not supported by strata: %w", f, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}

// run runs a RUN instruction in a container, with its mounts.
func (b *builder) run(ctx context.Context, s *state, c *instructions.RunCommand) error {
	if err := checkRunFlags(c); err != nil {
		return err
	}
	network, err := b.runNetwork(c)
	if err != nil {
		return err
	}
	args, script, err := runArgs(s.cfg.Config, c)
	if err != nil {
		return err
	}
	mountsKey, err := b.mountsKey(ctx, c)
	if err != nil {
		return err
	}
	histArgs, envArgs := s.args.inScope(s.cfg.Config.Env, b.args)
	history := runHistory(args, histArgs)
	key := b.key(s, "RUN", history, strings.Join(envArgs, "\x00"), network, script, strings.Join(mountsKey, "\x00"),
		strings.Join(b.o.AddHosts, ","))
	return b.do(ctx, s, commandText(c), key, func(id int) (change, error) {
		if err := checkEmulation(image.Platform{OS: s.cfg.OS, Architecture: s.cfg.Architecture, Variant: s.cfg.Variant}); err != nil {
			return change{}, err
		}
		mounts, err := b.runMounts(ctx, s, c)
		if err != nil {
			return change{}, err
		}
		defer mounts.release()
		cfg := s.cfg.Config
		cfg.Env = append(append(append([]string{}, cfg.Env...), envArgs...), mounts.env...)
		cfg.Healthcheck = nil
		step := container.Step{DiffIDs: s.diffIDs(), Config: cfg, Args: args, Network: stepNetwork(network), Volumes: mounts.volumes,
			AddHosts: b.o.AddHosts}
		if script != "" {
			p, err := b.writeScript(mounts, script)
			if err != nil {
				return change{}, err
			}
			step.Files = map[string]string{args[len(args)-1]: p}
		}
		return b.runStep(ctx, s, id, step, history)
	})
}

// runStep runs the step's container and says what it changed.
func (b *builder) runStep(ctx context.Context, s *state, id int, step container.Step, history string) (change, error) {
	out := b.output(s, id, 1)
	errw := b.output(s, id, 2)
	step.Stdout, step.Stderr = out, errw
	code, diff, err := b.m.RunStep(ctx, step)
	out.flush()
	errw.flush()
	var ee *runtime.ExecError
	if errors.As(err, &ee) {
		errw.emit(err.Error())
		return change{}, &StepError{Command: strings.Join(step.Args, " "), Code: code}
	}
	if err != nil {
		return change{}, err
	}
	if code != 0 {
		return change{}, &StepError{Command: strings.Join(step.Args, " "), Code: code}
	}
	return change{history: history, diff: diff}, nil
}

// output is where a RUN step's stream goes: a line at a time, as events.
func (b *builder) output(s *state, id, stream int) *lineWriter {
	return &lineWriter{emit: func(line string) {
		b.emit(Event{Kind: StepOutput, ID: id, Stage: s.label, N: s.n, Of: s.of, Text: line, Stream: stream})
	}}
}

// scriptPath is where a heredoc script with a #! line is run from, as
// BuildKit puts it.
const scriptPath = "/dev/pipes/"

// runArgs is what RUN runs: the shell form with the shell, the exec form as
// it is; a heredoc's script through the shell, or run directly (and
// returned, to be mounted at args[0]) when it starts with "#!".
func runArgs(cfg image.ContainerConfig, c *instructions.RunCommand) (args []string, script string, err error) {
	cmdline := c.CmdLine
	if len(c.Files) > 0 {
		if len(cmdline) != 1 || !c.PrependShell {
			return nil, "", fmt.Errorf("RUN: a heredoc goes with the shell form: %w", errdefs.ErrInvalidArgument)
		}
		if h := parser.MustParseHeredoc(cmdline[0]); h != nil {
			data := c.Files[0].Data
			if c.Files[0].Chomp {
				data = parser.ChompHeredocContent(data)
			}
			if strings.HasPrefix(data, "#!") {
				return shebang(data, scriptPath+c.Files[0].Name), data, nil
			}
			cmdline = []string{data}
		} else {
			full := cmdline[0]
			for _, f := range c.Files {
				full += "\n" + f.Data + f.Name
			}
			cmdline = []string{full}
		}
	}
	if len(cmdline) == 0 || (len(cmdline) == 1 && strings.TrimSpace(cmdline[0]) == "") {
		return nil, "", fmt.Errorf("RUN needs a command: %w", errdefs.ErrInvalidArgument)
	}
	if c.PrependShell {
		return append(append([]string{}, shellOf(cfg)...), cmdline...), "", nil
	}
	return cmdline, "", nil
}

// shebang is how the kernel runs a script at p that starts with "#!": its
// interpreter, the one argument the line may give it, then p. (Running it
// so spares looking up p before it is mounted.)
func shebang(script, p string) []string {
	line, _, _ := strings.Cut(strings.TrimPrefix(script, "#!"), "\n")
	interp, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
	args := []string{interp}
	if arg = strings.TrimSpace(arg); arg != "" {
		args = append(args, arg)
	}
	return append(args, p)
}

// writeScript writes a heredoc script to a file to mount in the
// container, in a directory only root enters, removed with the step's
// mounts.
func (b *builder) writeScript(sm *stepMounts, script string) (string, error) {
	dir, err := b.scratch(sm, "script-")
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "script")
	return p, os.WriteFile(p, []byte(script), 0o755)
}

// workdir runs WORKDIR: the directory is made now, as Docker does, so it
// is in the image even when nothing else makes it.
func (b *builder) workdir(ctx context.Context, s *state, c *instructions.WorkdirCommand) error {
	wd := c.Path
	if !path.IsAbs(wd) {
		wd = path.Join("/", s.cfg.Config.WorkingDir, wd)
	}
	wd = path.Clean(wd)
	history := fileHistory(s.cfg.Config, "WORKDIR "+wd)
	return b.do(ctx, s, commandText(c), b.key(s, "WORKDIR", history), func(int) (change, error) {
		diff, err := b.m.Change(ctx, s.diffIDs(), func(root string) error { return runtime.MkdirInRoot(root, wd) })
		return change{edit: func(c *image.ContainerConfig) { c.WorkingDir = wd }, history: history, diff: diff}, err
	})
}
