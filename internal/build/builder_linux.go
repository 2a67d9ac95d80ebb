package build

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/image"
	"github.com/strata-dev/strata/internal/runtime"
	"github.com/strata-dev/strata/internal/runtime/container"
	"github.com/strata-dev/strata/internal/store"
)

// builder is one build in progress.
type builder struct {
	o       Options
	st      *store.Store
	m       *container.Manager
	df      *dockerfile
	context *tree // nil without a build context
	args    *argSet
	stages  map[int]*state // the stages built so far
	events  int
	res     Result
	pending []*pendingLayer // layers being stored (commit)
	network netHold         // the default network, held once a RUN on it is due
}

// state is a stage as far as it got: the config of the image it makes
// (history and diffIDs included) and the layers' blobs.
type state struct {
	cfg        image.Config
	layers     []store.Layer
	args       stageArgs
	cmdSet     bool // CMD was set in this stage: ENTRYPOINT keeps it
	maintainer string
	label      string        // for progress: the stage's name, "" for a single stage
	lastKey    digest.Digest // the cache key of the stage's last step
	n, of      int
	at         int // the index of the command running, among the stage's
	runsUntil  int // 1 + the index of its last RUN on the default network; 0: none
}

func (s *state) diffIDs() []digest.Digest { return s.cfg.RootFS.DiffIDs }

// Build builds the Dockerfile of o on st and stores the image with o's
// tags. Nothing is tagged unless every step succeeded.
func Build(ctx context.Context, st *store.Store, o Options) (Result, error) {
	df, err := parseDockerfile(o.Dockerfile)
	if err != nil {
		return Result{}, err
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	m, err := container.New(st, o.Snapshotter, o.Log)
	if err != nil {
		return Result{}, err
	}
	if o.Network == "" {
		o.Network = networkDefault
	}
	if o.Network != networkDefault && o.Network != "host" && o.Network != "none" {
		return Result{}, fmt.Errorf("--network %q: RUN steps run on default (an isolated network), none or host: %w", o.Network, errdefs.ErrInvalidArgument)
	}
	target := o.Platform
	if target.OS == "" {
		target = image.DefaultPlatform()
	}
	b := &builder{o: o, st: st, m: m, df: df, args: newArgSet(o.BuildArgs, target, image.DefaultPlatform()), stages: map[int]*state{}}
	if o.ContextDir != "" {
		if b.context, err = openContext(o.ContextDir, o.Dockerignore); err != nil {
			return Result{}, err
		}
	}
	for _, w := range df.warnings {
		b.emit(Event{Kind: Warning, Text: w})
	}
	if err := b.args.declareMeta(df.lex, df.metaArgs); err != nil {
		return Result{}, fmt.Errorf("ARG: %w", err)
	}
	last, err := df.target(o.Target)
	if err != nil {
		return Result{}, err
	}
	order, err := df.needed(last, b.fromName)
	if err != nil {
		return Result{}, err
	}
	defer b.network.end(o.Log)
	for _, i := range order {
		if err := b.buildStage(ctx, i, len(order) > 1, i == last); err != nil {
			return Result{}, b.settleAfter(err) // the steps that succeeded stay cached
		}
	}
	if un := b.args.unused(); len(un) > 0 {
		b.emit(Event{Kind: Warning, Text: fmt.Sprintf("One or more build-args %v were not consumed", un)})
	}
	img, err := b.store(ctx, b.stages[last])
	b.res.Image = img
	return b.res, err
}

func (b *builder) emit(e Event) {
	if b.o.Progress != nil {
		b.o.Progress(e)
	}
}

// fromName is stage i's FROM name, global ARGs expanded.
func (b *builder) fromName(i int) (string, error) {
	name, _, err := b.df.lex.ProcessWord(b.df.stages[i].BaseName, shell.EnvsFromSlice(b.args.metaEnv()))
	if err != nil {
		return "", fmt.Errorf("FROM %s: %w", b.df.stages[i].BaseName, err)
	}
	if name == "" {
		return "", fmt.Errorf("FROM %s: the image name is empty once its ARGs are expanded: %w", b.df.stages[i].BaseName, errdefs.ErrInvalidArgument)
	}
	return name, nil
}

// fromText is how progress shows stage i's FROM: its ARGs expanded.
func (b *builder) fromText(i int) string {
	st := b.df.stages[i]
	name, err := b.fromName(i)
	if err != nil {
		return st.SourceCode
	}
	text := "FROM " + name
	if st.Name != "" {
		text += " AS " + st.Name
	}
	return text
}

// buildStage runs stage i: its FROM, the ONBUILD triggers of its image,
// its instructions, and for the target the --label flags.
func (b *builder) buildStage(ctx context.Context, i int, multi, target bool) error {
	st := b.df.stages[i]
	s, triggers, err := b.from(ctx, i)
	if err != nil {
		return err
	}
	if multi {
		s.label = stageLabel(st, i)
	}
	cmds := append(triggers, st.Commands...)
	if target && len(b.o.Labels) > 0 {
		cmds = append(cmds, labelCommand(b.o.Labels))
	}
	s.n, s.of = 1, len(cmds)+1
	for j, c := range cmds {
		if r, ok := c.(*instructions.RunCommand); ok && b.onDefaultNetwork(r) {
			s.runsUntil = j + 1
		}
	}
	text := b.fromText(i)
	id := b.begin(s, text)
	b.emit(Event{Kind: StepDone, ID: id, Stage: s.label, N: 1, Of: s.of, Text: text})
	for j, c := range cmds {
		s.n, s.at = s.n+1, j
		if err := b.dispatch(ctx, s, c); err != nil {
			return withLine(err, c)
		}
	}
	b.stages[i] = s
	return nil
}

// begin announces the next step and returns its id.
func (b *builder) begin(s *state, text string) int {
	b.events++
	b.emit(Event{Kind: StepStart, ID: b.events, Stage: s.label, N: s.n, Of: s.of, Text: text})
	return b.events
}

// withLine says which Dockerfile line an error is from.
func withLine(err error, c instructions.Command) error {
	var se *StepError
	if errors.As(err, &se) || len(c.Location()) == 0 {
		return err
	}
	return fmt.Errorf("Dockerfile:%d: %w", c.Location()[0].Start.Line, err)
}

// labelCommand is the LABEL that --label flags add, keys sorted.
func labelCommand(labels map[string]string) *instructions.LabelCommand {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	c := &instructions.LabelCommand{}
	for _, k := range keys {
		c.Labels = append(c.Labels, instructions.KeyValuePair{Key: k, Value: labels[k]})
	}
	return c
}

// from starts stage i on what its FROM names: scratch, an earlier stage, or
// an image (pulled when missing, or always with --pull). It returns the
// image's ONBUILD triggers, parsed.
func (b *builder) from(ctx context.Context, i int) (*state, []instructions.Command, error) {
	name, err := b.fromName(i)
	if err != nil {
		return nil, nil, err
	}
	s := &state{}
	if j := b.df.stageIndex(name, i); j >= 0 {
		prev := b.stages[j]
		s.cfg, s.layers = cloneConfig(prev.cfg), slices.Clone(prev.layers)
		return s, nil, nil
	}
	if strings.EqualFold(name, "scratch") {
		p, _ := b.platform(i)
		s.cfg = image.Config{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant, RootFS: ocispec.RootFS{Type: "layers"}}
	} else {
		p, explicit := b.platform(i)
		img, err := b.baseImage(ctx, name, p, explicit)
		if err != nil {
			return nil, nil, err
		}
		cb, err := b.st.Config(ctx, img)
		if err != nil {
			return nil, nil, err
		}
		cfg, err := image.ParseConfig(cb)
		if err != nil {
			return nil, nil, err
		}
		if s.layers, err = b.baseLayers(ctx, img); err != nil {
			return nil, nil, err
		}
		s.cfg = *cfg
	}
	s.cfg.Author, s.cfg.Comment, s.cfg.Container, s.cfg.ContainerConfig, s.cfg.DockerVersion = "", "", "", nil, ""
	if !slices.ContainsFunc(s.cfg.Config.Env, func(kv string) bool { return strings.HasPrefix(kv, "PATH=") }) {
		s.cfg.Config.Env = append(s.cfg.Config.Env, "PATH="+runtime.DefaultPath)
	}
	s.cfg.Config.OpenStdin, s.cfg.Config.StdinOnce = false, false
	triggers, err := parseTriggers(s.cfg.Config.OnBuild)
	s.cfg.Config.OnBuild = nil
	return s, triggers, err
}

// platform is what stage i is for: its FROM --platform, else --platform,
// else this machine's; explicit unless the last.
func (b *builder) platform(i int) (image.Platform, bool) {
	if p := b.df.stages[i].Platform; p != "" {
		if v, _, err := b.df.lex.ProcessWord(p, shell.EnvsFromSlice(b.args.metaEnv())); err == nil {
			if pl, err := image.ParsePlatform(v); err == nil {
				return pl, true
			}
		}
	}
	if b.o.Platform.OS != "" {
		return b.o.Platform, true
	}
	return image.DefaultPlatform(), false
}

// baseImage finds the image FROM names, pulling it when the store lacks
// it (or with --pull).
func (b *builder) baseImage(ctx context.Context, name string, p image.Platform, explicit bool) (store.Image, error) {
	ref, err := image.ParseReference(name)
	if err != nil {
		return store.Image{}, fmt.Errorf("FROM %s: %w", name, err)
	}
	if image.Tag(ref) == "" && image.RefDigest(ref) == "" {
		ref = reference.TagNameOnly(ref)
	}
	stored := ""
	if !b.o.Pull {
		img, err := b.st.Resolve(ctx, ref.String())
		if err != nil && !errdefs.IsNotFound(err) {
			return img, err
		}
		if err == nil {
			got, err := b.imagePlatform(ctx, img)
			if err != nil || platformMatches(p, got) || !explicit || b.o.PullImage == nil {
				return img, b.checkPlatform(name, p, got, explicit, err)
			}
			// Stored for another platform: the registry may have the one asked for.
			stored = fmt.Sprintf("the stored image is for %s, not %s, and ", image.FormatPlatform(got), image.FormatPlatform(p))
		}
	}
	if b.o.PullImage == nil {
		return store.Image{}, fmt.Errorf("FROM %s: the image is not in the store, and this build cannot pull: %w", name, errdefs.ErrNotFound)
	}
	img, err := b.o.PullImage(ctx, ref, p)
	if err != nil {
		if stored != "" {
			return img, fmt.Errorf("FROM %s: %sone for it could not be pulled: %w", name, stored, err)
		}
		return img, err
	}
	got, err := b.imagePlatform(ctx, img)
	return img, b.checkPlatform(name, p, got, explicit, err)
}

// imagePlatform is the platform img's config says it is for.
func (b *builder) imagePlatform(ctx context.Context, img store.Image) (image.Platform, error) {
	cb, err := b.st.Config(ctx, img)
	if err != nil {
		return image.Platform{}, err
	}
	cfg, err := image.ParseConfig(cb)
	if err != nil {
		return image.Platform{}, err
	}
	return image.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}, nil
}

// platformMatches reports whether an image for got serves want: the same
// OS and architecture, and the variant when want names one.
func platformMatches(want, got image.Platform) bool {
	return want.OS == got.OS && want.Architecture == got.Architecture && (want.Variant == "" || want.Variant == got.Variant)
}

// checkPlatform fails a base image for another platform than the one
// asked for with --platform (or FROM --platform); without one, it warns,
// as BuildKit does, and the build goes on.
func (b *builder) checkPlatform(name string, want, got image.Platform, explicit bool, err error) error {
	if err != nil || platformMatches(want, got) {
		return err
	}
	msg := fmt.Sprintf("FROM %s: the image is for %s, not %s", name, image.FormatPlatform(got), image.FormatPlatform(want))
	if explicit {
		return fmt.Errorf("%s, and its registry has none for %s: build for a platform the image has: %w", msg, image.FormatPlatform(want), errdefs.ErrNotFound)
	}
	b.emit(Event{Kind: Warning, Text: msg + " (this machine's): its RUN steps may not run"})
	return nil
}

func (b *builder) baseLayers(ctx context.Context, img store.Image) ([]store.Layer, error) {
	lbs, err := b.st.ImageLayers(ctx, img)
	if err != nil {
		return nil, err
	}
	out := make([]store.Layer, len(lbs))
	for i, l := range lbs {
		out[i] = store.Layer{Blob: l.Blob, DiffID: l.DiffID, TarSize: l.TarSize, Size: l.Size}
	}
	return out, nil
}

// parseTriggers parses an image's ONBUILD instructions.
func parseTriggers(exprs []string) ([]instructions.Command, error) {
	var out []instructions.Command
	for _, e := range exprs {
		res, err := parser.Parse(strings.NewReader(e))
		if err != nil {
			return nil, fmt.Errorf("ONBUILD %s: %w", e, err)
		}
		for _, n := range res.AST.Children {
			c, err := instructions.ParseCommand(n)
			if err != nil {
				return nil, fmt.Errorf("ONBUILD %s: %w", e, err)
			}
			out = append(out, c)
		}
	}
	return out, nil
}

func cloneConfig(c image.Config) image.Config {
	b, _ := json.Marshal(c)
	var out image.Config
	json.Unmarshal(b, &out)
	return out
}

// store stores the target stage's image with the tags asked for.
func (b *builder) store(ctx context.Context, s *state) (store.Image, error) {
	release, err := b.st.Writing()
	if err != nil {
		return store.Image{}, err
	}
	defer release()
	cb, err := json.Marshal(s.cfg)
	if err != nil {
		return store.Image{}, b.settleAfter(err)
	}
	// The config needs the layers' diffIDs alone, the manifest their blobs'
	// digests: both are written while the last layers' blobs are synced.
	cdesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cb), Size: int64(len(cb))}
	configured := make(chan error, 1)
	go func() {
		_, err := b.st.AddJSON(ctx, cdesc.MediaType, cb)
		configured <- err
	}()
	var n store.NewImage
	if err = b.known(); err == nil {
		n, err = b.st.WriteManifest(ctx, cdesc, s.layers)
	}
	if err := errors.Join(err, <-configured, b.settle()); err != nil {
		return store.Image{}, err
	}
	n.Tags, n.Derived = b.o.Tags, true
	img, err := b.st.Add(ctx, n)
	if err != nil {
		return img, fmt.Errorf("store the image: %w", err)
	}
	b.events++
	b.emit(Event{Kind: Writing, ID: b.events, Text: "writing image " + img.ID.String()})
	for _, t := range b.o.Tags {
		b.emit(Event{Kind: Writing, ID: b.events, Text: "naming to " + t.String()})
	}
	return img, nil
}

// netHold keeps the build's default network up from the first step that
// runs (misses the cache) with a RUN on that network at or after it, to
// the end of the build. It is set up in the background meanwhile: a step
// that misses the cache makes every later step of its stage run, so the
// network (a namespace, nft rules, slirp4netns) comes up while the steps
// before the RUN work, not after them; and held, it is not set up and
// taken down again around each RUN.
type netHold struct {
	done    chan struct{} // closed once the hold is taken, or failed
	release func() error
}

// start takes the hold in the background, once.
func (h *netHold) start(m *container.Manager, log *slog.Logger) {
	if h.done != nil {
		return
	}
	h.done = make(chan struct{})
	go func() {
		defer close(h.done)
		release, err := m.HoldNetwork("")
		if err != nil { // the RUN's own attach tries again and says why
			log.Debug("setting up the build's network ahead of its RUN steps", "err", err)
			return
		}
		h.release = release
	}()
}

// end lets the network go (down, if no container is on it).
func (h *netHold) end(log *slog.Logger) {
	if h.done == nil {
		return
	}
	<-h.done
	if h.release != nil {
		if err := h.release(); err != nil {
			log.Warn("taking the build's network down", "err", err)
		}
	}
}
