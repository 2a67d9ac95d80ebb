package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/internal/network"
	"github.com/strata-dev/strata/internal/runtime/container"
)

func (a *app) portCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "port CONTAINER [PRIVATE_PORT[/PROTO]]",
		Short:   "List a container's published ports",
		Example: "  strata port web\n  strata port web 80/tcp",
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withContainers(cmd.Context(), func(m *container.Manager) error {
				c, err := m.Get(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				ports := m.PublishedPorts(c)
				if len(args) == 2 {
					want := args[1]
					if !strings.Contains(want, "/") {
						want += "/tcp"
					}
					var found bool
					for _, p := range ports {
						if fmt.Sprintf("%d/%s", p.ContainerPort, p.Proto) == want {
							fmt.Fprintln(a.Out, hostAddr(p))
							found = true
						}
					}
					if !found {
						return fmt.Errorf("no public port '%s' published for %s", want, c.Name)
					}
					return nil
				}
				for _, p := range ports {
					fmt.Fprintf(a.Out, "%d/%s -> %s\n", p.ContainerPort, p.Proto, hostAddr(p))
				}
				return nil
			})
		},
	}
}

func hostAddr(p network.Port) string {
	ip := p.HostIP
	if ip == "" {
		ip = "0.0.0.0"
	}
	return fmt.Sprintf("%s:%d", ip, p.HostPort)
}

// portsColumn is ps's PORTS: "0.0.0.0:8080->80/tcp, ...".
func portsColumn(ports []network.Port) string {
	var out []string
	for _, p := range ports {
		out = append(out, p.String())
	}
	return strings.Join(out, ", ")
}
