package cli

import (
	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/internal/runtime/container"
)

func (a *app) execCommand() *cobra.Command {
	var o container.ExecOptions
	var interactive bool
	var env, envFiles []string
	cmd := &cobra.Command{
		Use:   "exec [OPTIONS] CONTAINER COMMAND [ARG...]",
		Short: "Run a command in a running container",
		Long: `Run a command in a running container, as docker exec does: in its
namespaces and cgroup, with its capabilities, seccomp filter and environment
(-e adds to it). strata exits with the command's status; 126 when it cannot
run or is not there (as docker exec), 125 when strata itself fails.`,
		Example: "  strata exec web cat /etc/hostname\n  strata exec -it web sh\n  strata exec -u app -w /tmp -e DEBUG=1 web env",
		Args:    cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Args = args[1:]
			for _, file := range envFiles {
				vars, err := readEnvFile(file, a.getenv)
				if err != nil {
					return a.exitWith(125, err)
				}
				o.Env = append(o.Env, vars...)
			}
			for _, kv := range env {
				if v, ok := envValue(kv, a.getenv); ok {
					o.Env = append(o.Env, v)
				}
			}
			terminal, err := a.terminal(runFlags{tty: o.Tty, interactive: interactive})
			if err != nil {
				return a.exitWith(125, err)
			}
			s, m, err := a.containers(cmd.Context())
			if err != nil {
				return a.exitWith(125, err)
			}
			defer s.Close()
			stdio := container.IO{Stdout: a.Out, Stderr: a.Err, Terminal: terminal}
			if interactive {
				stdio.Stdin = a.In
			}
			code, err := m.Exec(cmd.Context(), args[0], o, stdio)
			if err != nil {
				return a.exitWith(code, err)
			}
			if code != 0 {
				return ExitError{Code: code}
			}
			return nil
		},
	}
	cmd.Flags().SetInterspersed(false)
	fl := cmd.Flags()
	fl.BoolVarP(&o.Detach, "detach", "d", false, "run the command in the background")
	fl.BoolVarP(&interactive, "interactive", "i", false, "keep STDIN open and pass it to the command")
	fl.BoolVarP(&o.Tty, "tty", "t", false, "give the command a pseudo-terminal")
	fl.StringArrayVarP(&env, "env", "e", nil, "set an environment variable: KEY=VALUE, or KEY to pass on this shell's")
	fl.StringArrayVar(&envFiles, "env-file", nil, "read environment variables from a file")
	fl.StringVarP(&o.User, "user", "u", "", "run as this user: name|uid[:group|gid]")
	fl.StringVarP(&o.WorkingDir, "workdir", "w", "", "the working directory for the command")
	return cmd
}
