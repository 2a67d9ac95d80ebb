package build

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"

	"github.com/strata-dev/strata/internal/errdefs"
)

// dockerfile is a parsed Dockerfile: its stages, the ARGs before the first
// FROM, and the lexer that expands variables with its escape character.
type dockerfile struct {
	stages   []instructions.Stage
	metaArgs []instructions.ArgCommand
	lex      *shell.Lex
	warnings []string
}

// parseDockerfile parses a Dockerfile with BuildKit's parser, the field's
// standard, into typed instructions.
func parseDockerfile(b []byte) (*dockerfile, error) {
	res, err := parser.Parse(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("Dockerfile: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, fmt.Errorf("Dockerfile: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if len(stages) == 0 {
		return nil, fmt.Errorf("Dockerfile: no FROM instruction: a build starts FROM an image or scratch: %w", errdefs.ErrInvalidArgument)
	}
	d := &dockerfile{stages: stages, metaArgs: metaArgs, lex: shell.NewLex(res.EscapeToken)}
	for _, w := range res.Warnings {
		d.warnings = append(d.warnings, w.Short)
	}
	return d, nil
}

// stageIndex finds the stage a FROM or COPY --from names: by its name (as
// case-insensitive as Docker's) or its number, among the stages before
// stage `before`; -1 when it names none (it is then an image).
func (d *dockerfile) stageIndex(name string, before int) int {
	for i := 0; i < before; i++ {
		if d.stages[i].Name != "" && strings.EqualFold(d.stages[i].Name, name) {
			return i
		}
	}
	if n, err := strconv.Atoi(name); err == nil && n >= 0 && n < before {
		return n
	}
	return -1
}

// target is the index of the stage to build: --target, else the last.
func (d *dockerfile) target(name string) (int, error) {
	if name == "" {
		return len(d.stages) - 1, nil
	}
	for i, s := range d.stages {
		if strings.EqualFold(s.Name, name) {
			return i, nil
		}
	}
	var names []string
	for _, s := range d.stages {
		if s.Name != "" {
			names = append(names, s.Name)
		}
	}
	return 0, fmt.Errorf("target stage %q could not be found (the Dockerfile names %s): %w",
		name, orNone(names), errdefs.ErrNotFound)
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "no stages"
	}
	return strings.Join(names, ", ")
}

// needed lists, in order, the stages the target needs: itself, the stage
// it is FROM, and those it copies --from, transitively. Other stages are not
// built (as BuildKit, unlike Docker's classic builder, skips them).
// fromOf expands a stage's FROM name, which may use global ARGs.
func (d *dockerfile) needed(target int, fromOf func(i int) (string, error)) ([]int, error) {
	need := map[int]bool{target: true}
	for i := target; i >= 0; i-- {
		if !need[i] {
			continue
		}
		base, err := fromOf(i)
		if err != nil {
			return nil, err
		}
		if j := d.stageIndex(base, i); j >= 0 {
			need[j] = true
		}
		for _, from := range fromRefs(d.stages[i].Commands) {
			if j := d.stageIndex(from, i); j >= 0 {
				need[j] = true
			}
		}
	}
	var out []int
	for i := 0; i <= target; i++ {
		if need[i] {
			out = append(out, i)
		}
	}
	return out, nil
}

// fromRefs lists what a stage's commands take files from: COPY --from
// and RUN --mount from=.
func fromRefs(cmds []instructions.Command) []string {
	var out []string
	for _, c := range cmds {
		switch c := c.(type) {
		case *instructions.CopyCommand:
			if c.From != "" {
				out = append(out, c.From)
			}
		case *instructions.RunCommand:
			for _, m := range instructions.GetMounts(c) {
				if m.From != "" {
					out = append(out, m.From)
				}
			}
		}
	}
	return out
}

// stageLabel is how progress names a stage: its name, else its number.
func stageLabel(s instructions.Stage, i int) string {
	if s.Name != "" {
		return s.Name
	}
	return "stage-" + strconv.Itoa(i)
}
