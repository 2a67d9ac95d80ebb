package build

import (
	"fmt"
	"os"
	"strings"

	"github.com/strata-dev/strata/internal/errdefs"
)

// Secrets are --secret's: an id's value from a file or an environment
// variable, read when a step mounts it.
type Secrets map[string]SecretSource

// SecretSource is where a secret's value is: File, read when a step
// mounts it, or Env, an environment variable read with --secret (its
// value in Value).
type SecretSource struct {
	File  string
	Env   string
	Value []byte
}

func (s Secrets) value(id string) ([]byte, bool, error) {
	src, ok := s[id]
	if !ok {
		return nil, false, nil
	}
	if src.Env != "" {
		return src.Value, src.Value != nil, nil
	}
	b, err := os.ReadFile(src.File)
	if err != nil {
		return nil, false, fmt.Errorf("--secret id=%s: %w", id, notFound(err))
	}
	return b, true, nil
}

// ParseSecret reads --secret id=ID[,src=FILE|,env=VAR] (type=file|env
// also taken); with neither src nor env, the environment variable ID,
// else the file ID, as docker buildx does. lookupEnv reads the
// environment.
func ParseSecret(v string, lookupEnv func(string) (string, bool)) (string, SecretSource, error) {
	var id string
	var src SecretSource
	typ := ""
	for _, field := range strings.Split(v, ",") {
		k, val, _ := strings.Cut(field, "=")
		switch strings.ToLower(k) {
		case "id":
			id = val
		case "src", "source":
			src.File = val
		case "env":
			src.Env = val
		case "type":
			typ = val
		default:
			return "", src, fmt.Errorf("--secret %s: unknown key %q: want id=ID,src=FILE or id=ID,env=VAR: %w", v, k, errdefs.ErrInvalidArgument)
		}
	}
	if id == "" {
		return "", src, fmt.Errorf("--secret %s: an id is needed: id=ID,src=FILE: %w", v, errdefs.ErrInvalidArgument)
	}
	if src.File == "" && src.Env == "" {
		if _, ok := lookupEnv(id); ok && typ != "file" {
			src.Env = id
		} else {
			src.File = id
		}
	}
	if typ == "env" && src.Env == "" {
		src.Env, src.File = src.File, ""
	}
	if src.Env != "" {
		if v, ok := lookupEnv(src.Env); ok {
			src.Value = []byte(v)
		}
	}
	return id, src, nil
}
