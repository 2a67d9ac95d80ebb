// Package cli is strata's command line. There is one file per command group;
// a command parses its flags, calls the packages that do the work, and prints.
// Nothing below this package writes to a terminal.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

// Streams are the process's standard streams; tests pass buffers.
type Streams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// app is what every command shares: streams, environment and global flags.
type app struct {
	Streams
	getenv   func(string) string
	root     string // --root: where the local store lives
	logLevel string
	log      *slog.Logger
}

// ExitError carries a process exit code other than 1, such as a container's.
type ExitError struct{ Code int }

func (e ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// Run executes strata with args and returns the process exit code.
func Run(ctx context.Context, args []string, streams Streams, getenv func(string) string) int {
	a := &app{Streams: streams, getenv: getenv}
	cmd := a.rootCommand()
	cmd.SetArgs(args)
	cmd.SetIn(streams.In)
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.Err)
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var exit ExitError
	if errors.As(err, &exit) {
		return exit.Code
	}
	fmt.Fprintln(streams.Err, "Error:", err)
	return 1
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "strata",
		Short: "Container images, containers on copy-on-write layers, and a self-hosted hub",
		Long: `strata works with container images without a daemon.

Images live in a local content-addressed store (--root), where each layer is
kept once however many images share it. Pull and push them to any registry,
run containers on their read-only layers, and serve your own hub.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.setup()
		},
	}
	root.PersistentFlags().StringVar(&a.root, "root", "", "where strata keeps images and containers (env STRATA_ROOT; default "+defaultRootHelp+")")
	root.PersistentFlags().StringVar(&a.logLevel, "log-level", "warn", "how much to log: debug, info, warn or error")
	root.AddGroup(&cobra.Group{ID: "images", Title: "Images:"}, &cobra.Group{ID: "containers", Title: "Containers:"},
		&cobra.Group{ID: "registry", Title: "Registries:"}, &cobra.Group{ID: "hub", Title: "The hub:"})
	for _, c := range a.commands() {
		root.AddCommand(c)
	}
	root.AddCommand(a.versionCommand(), a.infoCommand())
	root.Version = version()
	root.SetVersionTemplate("strata version {{.Version}}\n")
	dockerUsageLines(root)
	unknownSubcommands(root)
	for _, c := range root.Commands() { // docker run, create and exec: a bad flag is status 125
		if n := c.Name(); n == "run" || n == "create" || n == "exec" {
			c.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
				return a.exitWith(125, fmt.Errorf("%w\nSee '%s --help'", err, cmd.CommandPath()))
			})
		}
	}
	a.completion(root)
	return root
}

// dockerUsageLines writes every usage line as docker does,
// "strata run [OPTIONS] IMAGE", rather than cobra's trailing "[flags]".
func dockerUsageLines(c *cobra.Command) {
	for _, sub := range c.Commands() {
		dockerUsageLines(sub)
	}
	c.DisableFlagsInUseLine = true
	if c.HasAvailableLocalFlags() && !strings.Contains(c.Use, "[OPTIONS]") && c.HasParent() {
		name, rest, _ := strings.Cut(c.Use, " ")
		c.Use = strings.TrimSpace(name + " [OPTIONS] " + rest)
	}
}

// commands lists every top-level command; each comes from its group's file.
func (a *app) commands() []*cobra.Command {
	cmds := append([]*cobra.Command{
		a.loginCommand(), a.logoutCommand(), a.pullCommand(), a.pushCommand(),
		a.hubCommand(), a.buildCommand(), a.builderCommand(),
		a.imageCommand(), a.systemCommand(),
	}, a.imageShortcuts()...)
	return a.withContainerCommands(cmds)
}

const defaultRootHelp = "/var/lib/strata for root, else $XDG_DATA_HOME/strata"

func (a *app) setup() error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(a.logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", a.logLevel)
	}
	a.log = slog.New(slog.NewTextHandler(a.Err, &slog.HandlerOptions{Level: level}))
	if a.root == "" {
		a.root = a.getenv("STRATA_ROOT")
	}
	if a.root == "" {
		a.root = dataDir(a.getenv)
	}
	// Absolute, since runc, the monitor and the network namespaces are
	// handed paths under it from other working directories.
	abs, err := filepath.Abs(a.root)
	if err != nil {
		return fmt.Errorf("--root %q: %w", a.root, err)
	}
	a.root = abs
	return nil
}

// dataDir is where strata keeps its data when not told: /var/lib/strata for
// root, else $XDG_DATA_HOME/strata (~/.local/share/strata).
func dataDir(getenv func(string) string) string {
	if os.Geteuid() == 0 {
		return "/var/lib/strata"
	}
	if x := getenv("XDG_DATA_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "strata")
	}
	home := getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return filepath.Join(home, ".local", "share", "strata")
}
