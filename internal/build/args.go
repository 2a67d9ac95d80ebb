package build

import (
	"sort"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"

	"github.com/strata-dev/strata/internal/image"
)

// builtinArgs may be given with --build-arg without an ARG: RUN sees them,
// its history does not (they hold proxies, perhaps with passwords).
var builtinArgs = map[string]bool{
	"HTTP_PROXY": true, "http_proxy": true, "HTTPS_PROXY": true, "https_proxy": true,
	"FTP_PROXY": true, "ftp_proxy": true, "NO_PROXY": true, "no_proxy": true, "ALL_PROXY": true, "all_proxy": true,
}

// argSet is the build args of a build: those given, which were used, the
// global ARGs before the first FROM, and the platform ARGs BuildKit
// defines (TARGETPLATFORM, BUILDARCH, ...).
type argSet struct {
	given map[string]string
	used  map[string]bool
	meta  map[string]*string
	auto  map[string]string
}

func newArgSet(given map[string]string, target, build image.Platform) *argSet {
	a := &argSet{given: given, used: map[string]bool{}, meta: map[string]*string{}, auto: map[string]string{}}
	for prefix, p := range map[string]image.Platform{"TARGET": target, "BUILD": build} {
		a.auto[prefix+"PLATFORM"] = image.FormatPlatform(p)
		a.auto[prefix+"OS"], a.auto[prefix+"ARCH"], a.auto[prefix+"VARIANT"] = p.OS, p.Architecture, p.Variant
	}
	return a
}

// value is what ARG key (with the Dockerfile's default, or nil) holds:
// --build-arg first, then the default, then a global ARG of that name or
// a platform ARG.
func (a *argSet) value(key string, def *string, global bool) *string {
	if v, ok := a.given[key]; ok {
		a.used[key] = true
		return &v
	}
	if def != nil {
		return def
	}
	if v, ok := a.meta[key]; ok && !global {
		return v
	}
	if v, ok := a.auto[key]; ok {
		return &v
	}
	return nil
}

// declareMeta records the global ARGs, each default expanded with those
// before it.
func (a *argSet) declareMeta(lex *shell.Lex, cmds []instructions.ArgCommand) error {
	for _, c := range cmds {
		for _, kv := range c.Args {
			def := kv.Value
			if def != nil {
				v, _, err := lex.ProcessWord(*def, shell.EnvsFromSlice(a.metaEnv()))
				if err != nil {
					return err
				}
				def = &v
			}
			a.meta[kv.Key] = a.value(kv.Key, def, true)
		}
	}
	return nil
}

// metaEnv is what FROM lines expand with.
func (a *argSet) metaEnv() []string {
	var env []string
	for k, v := range a.auto {
		env = append(env, k+"="+v)
	}
	for k, v := range a.meta {
		if v != nil {
			env = append(env, k+"="+*v)
		}
	}
	sort.Strings(env)
	return env
}

// unused lists the given build args nothing used, builtin ones aside.
func (a *argSet) unused() []string {
	var out []string
	for k := range a.given {
		if !a.used[k] && !builtinArgs[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// stageArgs are the ARGs a stage declared, in order, with their values.
type stageArgs struct {
	names  []string
	values map[string]*string
}

func (s *stageArgs) declare(key string, v *string) {
	if s.values == nil {
		s.values = map[string]*string{}
	}
	if _, ok := s.values[key]; !ok {
		s.names = append(s.names, key)
	}
	s.values[key] = v
}

// inScope is what Docker's FilterAllowed gives a RUN: the declared ARGs
// with a value that no ENV of the same name hides, as K=V, and (for its
// environment only) builtin ones given without an ARG.
func (s *stageArgs) inScope(env []string, a *argSet) (history, all []string) {
	history = s.visible(env)
	all = append([]string{}, history...)
	hidden := envKeys(env)
	for k, v := range a.given {
		if _, declared := s.values[k]; builtinArgs[k] && !declared && !hidden[k] {
			all = append(all, k+"="+v)
			a.used[k] = true
		}
	}
	sort.Strings(all[len(history):])
	return history, all
}

// visible lists the declared ARGs with a value that env does not hide.
func (s *stageArgs) visible(env []string) []string {
	hidden := envKeys(env)
	var out []string
	for _, k := range s.names {
		if v := s.values[k]; v != nil && !hidden[k] {
			out = append(out, k+"="+*v)
		}
	}
	return out
}

func envKeys(env []string) map[string]bool {
	set := map[string]bool{}
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		set[k] = true
	}
	return set
}

// expandEnv is what an instruction expands with: the config's environment,
// then the declared ARGs it does not hide.
func (s *stageArgs) expandEnv(env []string) shell.EnvGetter {
	return shell.EnvsFromSlice(append(append([]string{}, env...), s.visible(env)...))
}
