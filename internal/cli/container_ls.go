package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/internal/runtime/container"
	"github.com/strata-dev/strata/internal/store"
)

const psTable = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.CreatedAt}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"

var psHeaders = map[string]string{"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED",
	"RunningFor": "CREATED", "Status": "STATUS", "State": "STATE", "Ports": "PORTS", "Names": "NAMES", "Size": "SIZE"}

func (a *app) containerLsCommand() *cobra.Command {
	var all, quiet, noTrunc bool
	var format string
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"ps", "list"},
		Short:   "List containers",
		Long: `List containers, as docker ps does: the running ones, or all with -a.

--format takes a Go template over .ID, .Image, .Command, .CreatedAt,
.RunningFor, .Status, .State, .Ports, .Names and .Size, "table ..." for a table
with headers, or "json".`,
		Example: "  strata ps -a\n  strata ps -aq\n  strata ps --format '{{.Names}}: {{.Status}}'",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var cs []container.Container
			ports := map[string]string{}
			err := a.withContainers(cmd.Context(), func(m *container.Manager) (err error) {
				cs, err = m.List(cmd.Context())
				for _, c := range cs {
					ports[c.ID] = portsColumn(m.PublishedPorts(c))
				}
				return err
			})
			if err != nil {
				return err
			}
			if quiet {
				format = "{{.ID}}"
			}
			f, err := parseRowFormat(format, psTable)
			if err != nil {
				return err
			}
			var rows []map[string]string
			for _, c := range cs {
				if all || c.Running() {
					row := psRow(c, !noTrunc)
					row["Ports"] = ports[c.ID]
					rows = append(rows, row)
				}
			}
			return f.write(a.Out, psHeaders, rows)
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "show all containers, not only running ones")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "show only container IDs")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "do not truncate IDs and commands")
	cmd.Flags().StringVar(&format, "format", "", "a Go template, \"table ...\" or \"json\"")
	return cmd
}

// psRow is one container as `docker ps` shows it.
func psRow(c container.Container, trunc bool) map[string]string {
	id, command := c.ID, strings.Join(c.Settings.Args, " ")
	if trunc {
		id, command = id[:12], ellipsis(command, 20)
	}
	state := c.State
	if c.State == store.StateRunning && !c.Running() {
		state = store.StateExited
	}
	return map[string]string{"ID": id, "Image": c.Image, "Command": `"` + command + `"`, "CreatedAt": since(c.Created),
		"RunningFor": since(c.Created), "Status": status(c), "State": state, "Ports": "", "Names": c.Name, "Size": ""}
}

// status is Docker's STATUS column: Up, Exited (N) ... ago, or Created.
func status(c container.Container) string {
	switch {
	case c.Running():
		return "Up " + humanDuration(time.Since(c.Started))
	case c.State == store.StateRunning: // its watcher died without saying how it ended
		return "Exited (unknown)"
	case c.State == store.StateExited:
		return fmt.Sprintf("Exited (%d) %s", c.ExitCode, since(c.Finished))
	}
	return "Created"
}
