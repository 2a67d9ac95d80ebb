package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"

	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/internal/network"
	"github.com/strata-dev/strata/internal/runtime/container"
)

const networkTable = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"

var networkHeaders = map[string]string{"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE", "Subnet": "SUBNET"}

// networkCommand is `strata network`: the networks containers join.
func (a *app) networkCommand() *cobra.Command {
	group := &cobra.Command{
		Use:     "network",
		Short:   "Manage networks",
		GroupID: "containers",
		Long: `Manage networks. Each network is a network namespace of its own with a
bridge, reaching the outside through slirp4netns and never the host's
loopback; containers on a network you make reach each other by name.
"bridge" is the default network, "none" a loopback only, "host" the host's.`,
	}
	withNetworks := func(ctx context.Context, fn func(n *network.Networks) error) error {
		return a.withContainers(ctx, func(m *container.Manager) error { return fn(m.Networks()) })
	}
	var subnet string
	create := &cobra.Command{
		Use:     "create [OPTIONS] NETWORK",
		Short:   "Create a network",
		Example: "  strata network create app\n  strata run -d --network app --name db busybox sleep 1d\n  strata run --rm --network app busybox ping -c1 db",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o := network.CreateOptions{}
			if subnet != "" {
				p, err := netip.ParsePrefix(subnet)
				if err != nil {
					return fmt.Errorf("--subnet %q: %w", subnet, err)
				}
				o.Subnet = p
			}
			return withNetworks(cmd.Context(), func(n *network.Networks) error {
				c, err := n.Create(args[0], o)
				if err == nil {
					fmt.Fprintln(a.Out, networkID(c))
				}
				return err
			})
		},
	}
	create.Flags().StringVar(&subnet, "subnet", "", "the network's addresses, as 10.89.7.0/24 (default: the next free 10.89.N.0/24)")
	var quiet bool
	var format string
	ls := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List networks",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return withNetworks(cmd.Context(), func(n *network.Networks) error {
				cs, err := n.List()
				if err != nil {
					return err
				}
				if quiet {
					format = "{{.ID}}"
				}
				f, err := parseRowFormat(format, networkTable)
				if err != nil {
					return err
				}
				var rows []map[string]string
				for _, c := range append(cs, network.Config{Name: network.Host}, network.Config{Name: network.None}) {
					driver := map[string]string{network.Host: "host", network.None: "null"}[c.Name]
					if driver == "" {
						driver = "bridge"
					}
					rows = append(rows, map[string]string{"ID": networkID(c)[:12], "Name": c.Name, "Driver": driver, "Scope": "local", "Subnet": subnetOf(c)})
				}
				return f.write(a.Out, networkHeaders, rows)
			})
		},
	}
	ls.Flags().BoolVarP(&quiet, "quiet", "q", false, "show only network IDs")
	ls.Flags().StringVar(&format, "format", "", "a Go template, \"table ...\" or \"json\"")
	rm := &cobra.Command{
		Use:     "rm NETWORK [NETWORK...]",
		Aliases: []string{"remove"},
		Short:   "Remove networks that no container is on",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.eachContainer(cmd.Context(), args, func(m *container.Manager, name string) error {
				return m.Networks().Remove(name)
			})
		},
	}
	inspect := &cobra.Command{
		Use:   "inspect NETWORK [NETWORK...]",
		Short: "Show networks as JSON",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withContainers(cmd.Context(), func(m *container.Manager) error {
				var out []map[string]any
				for _, name := range args {
					c, err := m.Networks().Config(name)
					if err != nil {
						return err
					}
					members, _ := m.Networks().Members(name)
					ctrs := map[string]any{}
					for id, ip := range members {
						entry := map[string]any{"IPv4Address": netip.PrefixFrom(ip, c.Subnet.Bits()).String()}
						if ct, err := m.Get(cmd.Context(), id); err == nil {
							entry["Name"] = ct.Name
						}
						ctrs[id] = entry
					}
					out = append(out, map[string]any{"Name": c.Name, "Id": networkID(c), "Created": c.Created, "Scope": "local",
						"Driver": "bridge", "IPAM": map[string]any{"Driver": "default", "Config": []map[string]string{
							{"Subnet": c.Subnet.String(), "Gateway": c.Gateway.String()}}}, "Containers": ctrs})
				}
				b, _ := json.MarshalIndent(out, "", "    ")
				fmt.Fprintln(a.Out, string(b))
				return nil
			})
		},
	}
	group.AddCommand(create, ls, rm, inspect)
	return group
}

// networkID is a stable ID for a network, from its name and subnet.
func networkID(c network.Config) string {
	return strings.Repeat(fmt.Sprintf("%016x", fnv64(c.Name+c.Subnet.String())), 4)
}

func subnetOf(c network.Config) string {
	if c.Subnet.IsValid() {
		return c.Subnet.String()
	}
	return ""
}

func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}
