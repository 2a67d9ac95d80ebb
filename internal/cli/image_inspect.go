package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/template"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/image"
	"github.com/strata-dev/strata/internal/store"
)

// dockerConfig is a container config in the shape Docker's inspect prints:
// the fields it always writes (null when empty) and the ones it omits.
type dockerConfig struct {
	Hostname     string
	Domainname   string
	User         string
	AttachStdin  bool
	AttachStdout bool
	AttachStderr bool
	ExposedPorts map[string]struct{} `json:",omitempty"`
	Tty          bool
	OpenStdin    bool
	StdinOnce    bool
	Env          []string
	Cmd          []string
	Healthcheck  *image.Healthcheck `json:",omitempty"`
	ArgsEscaped  bool               `json:",omitempty"`
	Image        string
	Volumes      map[string]struct{}
	WorkingDir   string
	Entrypoint   []string
	OnBuild      []string
	Labels       map[string]string
	StopSignal   string   `json:",omitempty"`
	StopTimeout  *int     `json:",omitempty"`
	Shell        []string `json:",omitempty"`
}

func toDockerConfig(c *image.ContainerConfig) dockerConfig {
	if c == nil {
		return dockerConfig{}
	}
	return dockerConfig{Hostname: c.Hostname, Domainname: c.Domainname, User: c.User, AttachStdin: c.AttachStdin,
		AttachStdout: c.AttachStdout, AttachStderr: c.AttachStderr, ExposedPorts: c.ExposedPorts, Tty: c.Tty,
		OpenStdin: c.OpenStdin, StdinOnce: c.StdinOnce, Env: c.Env, Cmd: c.Cmd, Healthcheck: c.Healthcheck,
		ArgsEscaped: c.ArgsEscaped, Image: c.Image, Volumes: c.Volumes, WorkingDir: c.WorkingDir,
		Entrypoint: c.Entrypoint, OnBuild: c.OnBuild, Labels: c.Labels, StopSignal: c.StopSignal,
		StopTimeout: c.StopTimeout, Shell: c.Shell}
}

// imageInspect is `docker image inspect`'s object for one image.
type imageInspect struct {
	ID              string `json:"Id"`
	RepoTags        []string
	RepoDigests     []string
	Parent          string
	Comment         string
	Created         time.Time
	Container       string
	ContainerConfig dockerConfig
	DockerVersion   string
	Author          string
	Config          dockerConfig
	Architecture    string
	Variant         string `json:",omitempty"`
	Os              string
	OsVersion       string `json:",omitempty"`
	Size            int64
	VirtualSize     int64
	GraphDriver     struct {
		Data map[string]string
		Name string
	}
	RootFS struct {
		Type   string
		Layers []digest.Digest
	}
	Metadata struct{ LastTagTime time.Time }
}

func newImageInspect(img store.Image, cfg *image.Config) imageInspect {
	ii := imageInspect{ID: img.ID.String(), RepoTags: familiar(img.Tags), RepoDigests: familiar(img.RepoDigests),
		Parent: img.Parent.String(), Comment: cfg.Comment, Container: cfg.Container, ContainerConfig: toDockerConfig(cfg.ContainerConfig),
		DockerVersion: cfg.DockerVersion, Author: cfg.Author, Config: toDockerConfig(&cfg.Config),
		Architecture: cfg.Architecture, Variant: cfg.Variant, Os: cfg.OS, OsVersion: cfg.OSVersion,
		Size: img.Size, VirtualSize: img.Size}
	if cfg.Created != nil {
		ii.Created = *cfg.Created
	}
	ii.GraphDriver.Name = "strata"
	ii.RootFS.Type, ii.RootFS.Layers = cfg.RootFS.Type, cfg.RootFS.DiffIDs
	ii.Metadata.LastTagTime = img.LastTagTime
	return ii
}

func familiar(names []string) []string {
	out := []string{}
	for _, n := range names {
		if ref, err := image.ParseReference(n); err == nil {
			n = image.FamiliarString(ref)
		}
		out = append(out, n)
	}
	return out
}

func (a *app) imageInspectCommand() *cobra.Command {
	var format, raw string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] IMAGE [IMAGE...]",
		Short: "Show details of one or more images",
		Long: `Show details of images as a JSON array shaped like docker's (Id, RepoTags,
RepoDigests, Config, RootFS, Size, ...), or through a Go template. With --raw
manifest or --raw config, print the stored manifest or config blob as it is.`,
		Example: `  strata image inspect busybox
  strata image inspect -f '{{.Config.Cmd}}' busybox
  strata image inspect -f '{{json .RootFS}}' busybox
  strata image inspect --raw manifest busybox`,
		ValidArgsFunction: a.completeImages,
		Args:              cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.imageInspect(cmd.Context(), args, format, raw, nil)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "format output with a Go template, or 'json'")
	cmd.Flags().StringVar(&raw, "raw", "", "print the stored 'manifest' or 'config' blob instead")
	return cmd
}

// imageInspect prints what each name is: an image, or what find finds
// first when it is given (a container).
func (a *app) imageInspect(ctx context.Context, names []string, format, raw string, find func(*store.Store, string) (any, error)) error {
	if raw != "" && raw != "manifest" && raw != "config" {
		return fmt.Errorf("--raw %q: want manifest or config", raw)
	}
	var tmpl *template.Template
	if format != "" && format != "json" {
		var err error
		format = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(format)
		if tmpl, err = template.New("format").Funcs(templateFuncs).Parse(format); err != nil {
			return fmt.Errorf("--format: %w", err)
		}
	}
	s, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	var out []any
	var errs []error
	for _, name := range names {
		var v any
		if find != nil {
			v, err = find(s, name)
		}
		if find == nil || errdefs.IsNotFound(err) {
			v, err = a.inspectOne(ctx, s, name, raw)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if tmpl != nil {
			if err := executeInspect(a.Out, tmpl, v); err != nil {
				return fmt.Errorf("--format: %w", err)
			}
			fmt.Fprintln(a.Out)
			continue
		}
		out = append(out, v)
	}
	if tmpl == nil {
		if out == nil {
			out = []any{}
		}
		b, err := json.MarshalIndent(out, "", "    ")
		if err != nil {
			return err
		}
		fmt.Fprintln(a.Out, string(b))
	}
	return errors.Join(errs...)
}

// executeInspect runs tmpl on v, and when that fails, on v's JSON form, as
// docker does: templates may use the Go field names or the JSON ones
// ({{.ID}} and {{.Id}} both work). Numbers keep their JSON spelling.
func executeInspect(w io.Writer, tmpl *template.Template, v any) error {
	var buf bytes.Buffer
	err := tmpl.Execute(&buf, v)
	if err != nil {
		b, merr := json.Marshal(v)
		if merr != nil {
			return err
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var raw any
		if dec.Decode(&raw) != nil {
			return err
		}
		buf.Reset()
		if tmpl.Execute(&buf, raw) != nil {
			return err // the first error names the Go fields, which is the more useful
		}
	}
	_, err = w.Write(buf.Bytes())
	return err
}

// inspectOne is an image's inspect object, or its raw manifest or config
// as a JSON value (for templates, decoded).
func (a *app) inspectOne(ctx context.Context, s *store.Store, name, raw string) (any, error) {
	img, err := s.Resolve(ctx, name)
	if err != nil {
		return nil, err
	}
	cb, err := s.Config(ctx, img)
	if err != nil {
		return nil, err
	}
	var b []byte
	switch raw {
	case "config":
		b = cb
	case "manifest":
		if b, err = s.ManifestBytes(ctx, img); err != nil {
			return nil, err
		}
	default:
		cfg, err := image.ParseConfig(cb)
		if err != nil {
			return nil, err
		}
		return newImageInspect(img, cfg), nil
	}
	var v any
	err = json.Unmarshal(b, &v)
	return v, err
}
