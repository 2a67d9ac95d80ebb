package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	goruntime "runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/internal/network"
	"github.com/strata-dev/strata/internal/runtime"
	"github.com/strata-dev/strata/internal/runtime/container"
)

// version is strata's version: the module's, or the commit it was built from.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v = s.Value[:12]
		}
	}
	if v == "" || v == "(devel)" {
		v = "dev"
	}
	return v
}

func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Show strata's version and what it runs containers with",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintf(a.Out, "Client: strata\n Version:\t%s\n Go version:\t%s\n OS/Arch:\t%s/%s\n",
				version(), goruntime.Version(), goruntime.GOOS, goruntime.GOARCH)
			if r, err := runtime.FindRunc(""); err == nil {
				out, _ := exec.Command(r.Bin, "--version").Output()
				first, _, _ := strings.Cut(string(out), "\n")
				fmt.Fprintf(a.Out, " runc:\t\t%s (%s)\n", strings.TrimPrefix(first, "runc version "), r.Bin)
			}
			return nil
		},
	}
}

func (a *app) infoCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "info",
		Short: "Show what strata has and how it runs containers",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return a.info(cmd.Context()) },
	}
}

func (a *app) info(ctx context.Context) error {
	s, m, err := a.containers(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	imgs, err := s.Images(ctx)
	if err != nil {
		return err
	}
	cs, err := m.List(ctx)
	if err != nil {
		return err
	}
	counts := map[string]int{}
	for _, c := range cs {
		counts[m.Status(c)]++
	}
	nets, _ := m.Networks().List()
	cgroup := "1"
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		cgroup = "2"
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	w := a.Out
	fmt.Fprintf(w, "Client: strata %s (no daemon)\n", version())
	fmt.Fprintf(w, " Containers: %d\n  Running: %d\n  Paused: %d\n  Stopped: %d\n", len(cs), counts["running"], counts["paused"],
		counts["exited"]+counts["created"])
	fmt.Fprintf(w, " Images: %d\n Storage Driver: %s\n Root Dir: %s\n", len(imgs), m.Snapshotter().Name(), s.Root())
	fmt.Fprintf(w, " Cgroup Version: %s\n Default Network: %s (slirp4netns, its own namespace)\n Networks: %d\n",
		cgroup, network.Default, len(nets))
	fmt.Fprintf(w, " Security Options:\n  seccomp\n   Profile: default (github.com/moby/profiles/seccomp)\n  pids limit: %d\n",
		runtime.DefaultPidsLimit)
	fmt.Fprintf(w, " Kernel Version: %s\n OS/Arch: %s/%s\n CPUs: %d\n", strings.TrimSpace(string(kernel)),
		goruntime.GOOS, goruntime.GOARCH, goruntime.NumCPU())
	return nil
}

// unknownSubcommands makes a command group refuse a subcommand it lacks,
// with a suggestion when one is close, as the top level does (cobra would
// print the group's help and exit 0).
func unknownSubcommands(c *cobra.Command) {
	for _, sub := range c.Commands() {
		unknownSubcommands(sub)
	}
	if !c.HasParent() || !c.HasSubCommands() || c.Runnable() {
		return
	}
	c.Args = cobra.ArbitraryArgs
	c.SuggestionsMinimumDistance = 2
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t")
		}
		return fmt.Errorf("%s\nRun '%s --help' for usage", msg, cmd.CommandPath())
	}
}

// completeContainers offers container names for shell completion.
func (a *app) completeContainers(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if err := a.setup(); err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var names []string
	a.withContainers(cmd.Context(), func(m *container.Manager) error {
		cs, err := m.List(cmd.Context())
		for _, c := range cs {
			names = append(names, c.Name)
		}
		return err
	})
	return names, cobra.ShellCompDirectiveNoFileComp
}

// completion wires shell completion: image names for run and create,
// container names for every command that takes one, and flag values.
func (a *app) completion(root *cobra.Command) {
	takesContainer := map[string]bool{"logs": true, "stop": true, "start": true, "rm": true, "diff": true, "commit": true,
		"export": true, "exec": true, "port": true, "kill": true, "wait": true, "pause": true, "unpause": true, "rename": true,
		"restart": true, "update": true, "top": true, "stats": true, "attach": true, "inspect": true}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		switch {
		case c.Name() == "run" || c.Name() == "create":
			c.ValidArgsFunction = func(cmd *cobra.Command, args []string, s string) ([]string, cobra.ShellCompDirective) {
				if len(args) > 0 {
					return nil, cobra.ShellCompDirectiveDefault
				}
				return a.completeImages(cmd, args, s)
			}
			c.RegisterFlagCompletionFunc("network", func(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
				names := []string{network.Default, network.None, network.Host}
				a.setup()
				a.withContainers(cmd.Context(), func(m *container.Manager) error {
					cs, err := m.Networks().List()
					for _, n := range cs[1:] {
						names = append(names, n.Name)
					}
					return err
				})
				return names, cobra.ShellCompDirectiveNoFileComp
			})
			fixed := map[string][]string{"restart": {"no", "on-failure", "always", "unless-stopped"},
				"pull": {"always", "missing", "never"}, "cap-add": {"ALL", "NET_ADMIN", "SYS_PTRACE", "SYS_ADMIN"},
				"cap-drop": {"ALL", "NET_RAW", "CHOWN"}, "security-opt": {"seccomp=unconfined", "no-new-privileges"}}
			for flag, values := range fixed {
				if c.Flags().Lookup(flag) != nil {
					c.RegisterFlagCompletionFunc(flag, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
				}
			}
		case takesContainer[c.Name()] && c.HasParent() && (c.Parent() == root || c.Parent().Name() == "container") && c.ValidArgsFunction == nil:
			c.ValidArgsFunction = a.completeContainers
		}
	}
	walk(root)
}
