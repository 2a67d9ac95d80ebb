package image

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/strata-dev/strata/internal/errdefs"
)

// ApplyChange applies one Dockerfile instruction to a container config, as
// `docker import --change` and `docker commit --change` do. It takes CMD,
// ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME and
// WORKDIR; the JSON (exec) form and the shell form where Dockerfiles allow it.
func ApplyChange(c *ContainerConfig, change string) error {
	instr, args, _ := strings.Cut(strings.TrimSpace(change), " ")
	args = strings.TrimSpace(args)
	bad := func(why string) error {
		return fmt.Errorf("--change %q: %s: %w", change, why, errdefs.ErrInvalidArgument)
	}
	if args == "" {
		return bad("the instruction needs an argument")
	}
	switch strings.ToUpper(instr) {
	case "CMD":
		c.Cmd = commandForm(args)
	case "ENTRYPOINT":
		c.Entrypoint = commandForm(args)
	case "ENV":
		kv, err := keyValues(args, true)
		if err != nil {
			return bad(err.Error())
		}
		for _, p := range kv {
			c.Env = setEnv(c.Env, p[0], p[1])
		}
	case "LABEL":
		kv, err := keyValues(args, false)
		if err != nil {
			return bad(err.Error())
		}
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		for _, p := range kv {
			c.Labels[p[0]] = p[1]
		}
	case "EXPOSE":
		if c.ExposedPorts == nil {
			c.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range strings.Fields(args) {
			port, proto, _ := strings.Cut(p, "/")
			if proto == "" {
				proto = "tcp"
			}
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || (proto != "tcp" && proto != "udp" && proto != "sctp") {
				return bad(fmt.Sprintf("%q is not a port (want 80, 80/tcp, 53/udp)", p))
			}
			c.ExposedPorts[port+"/"+proto] = struct{}{}
		}
	case "VOLUME":
		if c.Volumes == nil {
			c.Volumes = map[string]struct{}{}
		}
		for _, v := range listForm(args) {
			c.Volumes[v] = struct{}{}
		}
	case "WORKDIR":
		c.WorkingDir = args
	case "USER":
		c.User = args
	case "STOPSIGNAL":
		c.StopSignal = args
	case "ONBUILD":
		c.OnBuild = append(c.OnBuild, args)
	default:
		return bad("want one of CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR")
	}
	return nil
}

// commandForm reads `["a","b"]` as is and anything else as a shell command.
func commandForm(args string) []string {
	var list []string
	if strings.HasPrefix(args, "[") && json.Unmarshal([]byte(args), &list) == nil {
		return list
	}
	return []string{"/bin/sh", "-c", args}
}

func listForm(args string) []string {
	var list []string
	if strings.HasPrefix(args, "[") && json.Unmarshal([]byte(args), &list) == nil {
		return list
	}
	return strings.Fields(args)
}

// keyValues reads `k=v k2="v 2"`, or (legacy, when spaced) `k some value`.
func keyValues(args string, spaced bool) ([][2]string, error) {
	first, _, _ := strings.Cut(args, " ")
	if !strings.Contains(first, "=") {
		if !spaced {
			return nil, fmt.Errorf("want key=value")
		}
		k, v, _ := strings.Cut(args, " ")
		return [][2]string{{k, strings.TrimSpace(v)}}, nil
	}
	words, err := splitWords(args)
	if err != nil {
		return nil, err
	}
	var out [][2]string
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q: want key=value", w)
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

// splitWords splits on spaces outside double or single quotes, removing the quotes.
func splitWords(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	var quote rune
	inWord := false
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated quote")
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out, nil
}

func setEnv(env []string, k, v string) []string {
	for i, e := range env {
		if strings.HasPrefix(e, k+"=") {
			env[i] = k + "=" + v
			return env
		}
	}
	return append(env, k+"="+v)
}
