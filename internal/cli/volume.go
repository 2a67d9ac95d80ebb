package cli

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/runtime"
	"github.com/strata-dev/strata/internal/runtime/container"
)

// parseMount reads --mount type=bind|volume|tmpfs,source=...,target=...[,readonly].
func parseMount(s string, o *runtime.Options) error {
	kv := map[string]string{"type": "volume"}
	for _, f := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "src":
			k = "source"
		case "dst", "destination":
			k = "target"
		case "ro":
			k = "readonly"
		}
		kv[k] = v
	}
	bad := func(why string) error {
		return fmt.Errorf("--mount %q: %s: %w", s, why, errdefs.ErrInvalidArgument)
	}
	target := kv["target"]
	if !strings.HasPrefix(target, "/") {
		return bad("target= must be an absolute path in the container")
	}
	_, ro := kv["readonly"]
	ro = ro && kv["readonly"] != "false" && kv["readonly"] != "0"
	switch kv["type"] {
	case "bind":
		src := kv["source"]
		if src == "" {
			return bad("a bind mount needs source=")
		}
		abs, err := filepath.Abs(src)
		if err != nil {
			return bad(err.Error())
		}
		o.Volumes = append(o.Volumes, runtime.Volume{Source: abs, Target: target, ReadOnly: ro})
	case "volume":
		o.Volumes = append(o.Volumes, runtime.Volume{Name: kv["source"], Target: target, ReadOnly: ro, Anonymous: kv["source"] == ""})
	case "tmpfs":
		if o.Extras.Tmpfs == nil {
			o.Extras.Tmpfs = map[string]string{}
		}
		opts := ""
		if size := kv["tmpfs-size"]; size != "" {
			opts = "size=" + size
		}
		o.Extras.Tmpfs[target] = opts
	default:
		return bad("type must be bind, volume or tmpfs")
	}
	return nil
}

const volumeTable = "table {{.Driver}}\t{{.Name}}"

// volumeCommand is `strata volume`.
func (a *app) volumeCommand() *cobra.Command {
	group := &cobra.Command{
		Use:     "volume",
		Short:   "Manage volumes",
		GroupID: "containers",
		Long: `Manage volumes: directories of the store (volumes/NAME/_data) that containers
mount with -v NAME:/path or --mount source=NAME,target=/path, kept when the
containers go. -v /path alone makes an anonymous volume, removed with rm -v or --rm.`,
	}
	var labels []string
	create := &cobra.Command{
		Use:   "create [OPTIONS] [VOLUME]",
		Short: "Create a volume",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			l := map[string]string{}
			for _, kv := range labels {
				k, v, _ := strings.Cut(kv, "=")
				l[k] = v
			}
			return a.withContainers(cmd.Context(), func(m *container.Manager) error {
				v, err := m.CreateVolume(name, l)
				if err == nil {
					fmt.Fprintln(a.Out, v.Name)
				}
				return err
			})
		},
	}
	create.Flags().StringArrayVarP(&labels, "label", "l", nil, "set a label: KEY=VALUE")
	var quiet bool
	var format string
	ls := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List volumes",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if quiet {
				format = "{{.Name}}"
			}
			f, err := parseRowFormat(format, volumeTable)
			if err != nil {
				return err
			}
			return a.withContainers(cmd.Context(), func(m *container.Manager) error {
				vs, err := m.Volumes()
				var rows []map[string]string
				for _, v := range vs {
					rows = append(rows, map[string]string{"Driver": "local", "Name": v.Name, "Mountpoint": v.Mountpoint, "Scope": "local"})
				}
				if err != nil {
					return err
				}
				return f.write(a.Out, map[string]string{"Driver": "DRIVER", "Name": "VOLUME NAME", "Mountpoint": "MOUNTPOINT", "Scope": "SCOPE"}, rows)
			})
		},
	}
	ls.Flags().BoolVarP(&quiet, "quiet", "q", false, "show only volume names")
	ls.Flags().StringVar(&format, "format", "", "a Go template, \"table ...\" or \"json\"")
	inspect := &cobra.Command{
		Use:   "inspect VOLUME [VOLUME...]",
		Short: "Show volumes as JSON",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withContainers(cmd.Context(), func(m *container.Manager) error {
				var out []container.Volume
				for _, name := range args {
					v, err := m.GetVolume(name)
					if err != nil {
						return err
					}
					out = append(out, v)
				}
				b, _ := json.MarshalIndent(out, "", "    ")
				fmt.Fprintln(a.Out, string(b))
				return nil
			})
		},
	}
	rm := &cobra.Command{
		Use:     "rm VOLUME [VOLUME...]",
		Aliases: []string{"remove"},
		Short:   "Remove volumes that no container mounts",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.eachContainer(cmd.Context(), args, func(m *container.Manager, name string) error {
				return m.RemoveVolume(cmd.Context(), name)
			})
		},
	}
	var all, force bool
	prune := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove the anonymous volumes no container mounts (-a: every unused one)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withContainers(cmd.Context(), func(m *container.Manager) error {
				names, freed, err := m.PruneVolumes(cmd.Context(), all)
				if len(names) > 0 {
					fmt.Fprintln(a.Out, "Deleted Volumes:")
					for _, n := range names {
						fmt.Fprintln(a.Out, n)
					}
					fmt.Fprintln(a.Out)
				}
				fmt.Fprintf(a.Out, "Total reclaimed space: %s\n", sizeString(freed, 3))
				return err
			})
		},
	}
	prune.Flags().BoolVarP(&all, "all", "a", false, "remove every unused volume, named ones too")
	prune.Flags().BoolVarP(&force, "force", "f", false, "do not prompt for confirmation (strata never does)")
	group.AddCommand(create, ls, inspect, rm, prune)
	return group
}
