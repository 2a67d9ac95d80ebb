package image

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Config is an image configuration: OCI's fields plus the ones Docker writes
// (container, container_config, docker_version) and shows in `inspect`.
// Stored configs are kept as the raw blob; Config is for reading them and for
// writing new ones.
type Config struct {
	Created         *time.Time        `json:"created,omitempty"`
	Author          string            `json:"author,omitempty"`
	Architecture    string            `json:"architecture"`
	Variant         string            `json:"variant,omitempty"`
	OS              string            `json:"os"`
	OSVersion       string            `json:"os.version,omitempty"`
	OSFeatures      []string          `json:"os.features,omitempty"`
	Config          ContainerConfig   `json:"config"`
	Container       string            `json:"container,omitempty"`
	ContainerConfig *ContainerConfig  `json:"container_config,omitempty"`
	DockerVersion   string            `json:"docker_version,omitempty"`
	Comment         string            `json:"comment,omitempty"`
	RootFS          ocispec.RootFS    `json:"rootfs"`
	History         []ocispec.History `json:"history,omitempty"`
}

// History is one entry of a config's history.
type History = ocispec.History

// ContainerConfig is how to run the image: OCI's ImageConfig plus Docker's
// extras (Healthcheck, OnBuild, Shell, ...), under Docker's JSON names.
type ContainerConfig struct {
	Hostname     string              `json:"Hostname,omitempty"`
	Domainname   string              `json:"Domainname,omitempty"`
	User         string              `json:"User,omitempty"`
	AttachStdin  bool                `json:"AttachStdin,omitempty"`
	AttachStdout bool                `json:"AttachStdout,omitempty"`
	AttachStderr bool                `json:"AttachStderr,omitempty"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts,omitempty"`
	Tty          bool                `json:"Tty,omitempty"`
	OpenStdin    bool                `json:"OpenStdin,omitempty"`
	StdinOnce    bool                `json:"StdinOnce,omitempty"`
	Env          []string            `json:"Env,omitempty"`
	Cmd          []string            `json:"Cmd,omitempty"`
	Healthcheck  *Healthcheck        `json:"Healthcheck,omitempty"`
	ArgsEscaped  bool                `json:"ArgsEscaped,omitempty"`
	Image        string              `json:"Image,omitempty"`
	Volumes      map[string]struct{} `json:"Volumes,omitempty"`
	WorkingDir   string              `json:"WorkingDir,omitempty"`
	Entrypoint   []string            `json:"Entrypoint,omitempty"`
	OnBuild      []string            `json:"OnBuild,omitempty"`
	Labels       map[string]string   `json:"Labels,omitempty"`
	StopSignal   string              `json:"StopSignal,omitempty"`
	StopTimeout  *int                `json:"StopTimeout,omitempty"`
	Shell        []string            `json:"Shell,omitempty"`
}

// Healthcheck is Docker's HEALTHCHECK setting.
type Healthcheck struct {
	Test        []string      `json:"Test,omitempty"`
	Interval    time.Duration `json:"Interval,omitempty"`
	Timeout     time.Duration `json:"Timeout,omitempty"`
	StartPeriod time.Duration `json:"StartPeriod,omitempty"`
	Retries     int           `json:"Retries,omitempty"`
}

// ParseConfig decodes an image configuration and checks what the rest of
// strata relies on: a rootfs of type "layers" with well-formed diffIDs.
func ParseConfig(b []byte) (*Config, error) {
	if len(b) > MaxManifestSize {
		return nil, invalid("image config is %d bytes, more than the %d allowed", len(b), MaxManifestSize)
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, invalid("image config is not valid JSON: %v", err)
	}
	if c.RootFS.Type != "layers" {
		return nil, invalid("image config: rootfs.type is %q, want \"layers\"", c.RootFS.Type)
	}
	for i, d := range c.RootFS.DiffIDs {
		if err := d.Validate(); err != nil {
			return nil, invalid("image config: diff_ids[%d] %q: %v", i, d, err)
		}
	}
	return &c, nil
}

// Platform is the platform the config says the image is for.
func (c *Config) Platform() Platform {
	return Platform{OS: c.OS, Architecture: c.Architecture, Variant: c.Variant, OSVersion: c.OSVersion}
}

// LayerHistory pairs each history entry with the diffID of the layer it made,
// or "" for an empty_layer entry. It fails when the two lists disagree.
func (c *Config) LayerHistory() ([]digest.Digest, error) {
	out := make([]digest.Digest, len(c.History))
	n := 0
	for i, h := range c.History {
		if h.EmptyLayer {
			continue
		}
		if n >= len(c.RootFS.DiffIDs) {
			return nil, fmt.Errorf("image config has more non-empty history entries than layers (%d)", len(c.RootFS.DiffIDs))
		}
		out[i] = c.RootFS.DiffIDs[n]
		n++
	}
	return out, nil
}
