package cli

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/image"
	"github.com/strata-dev/strata/internal/runtime/container"
	"github.com/strata-dev/strata/internal/store"
)

const psTable = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.CreatedAt}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"

var psHeaders = map[string]string{"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED",
	"RunningFor": "CREATED", "Status": "STATUS", "State": "STATE", "Ports": "PORTS", "Names": "NAMES", "Size": "SIZE",
	"Labels": "LABELS", "Mounts": "MOUNTS", "Networks": "NETWORKS"}

// psFlags are ps's flags.
type psFlags struct {
	all, quiet, noTrunc, latest, size bool
	last                              int
	format                            string
	filters                           []string
}

func (a *app) containerLsCommand() *cobra.Command {
	var f psFlags
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"ps", "list"},
		Short:   "List containers",
		Long: `List containers, as docker ps does: the running ones, or all with -a.

--filter takes id=, name=, label=KEY[=VALUE], status=created|running|paused|exited,
ancestor=IMAGE, exited=CODE and network=NAME, each as often as wanted (the same
key: any of them; different keys: all of them). --format takes a Go template
over .ID, .Image, .Command, .CreatedAt, .RunningFor, .Status, .State, .Ports,
.Names, .Labels, .Mounts, .Networks and .Size, "table ..." for a table with
headers, or "json".`,
		Example: "  strata ps -a\n  strata ps -aq\n  strata ps --filter status=exited --filter label=team=a\n  strata ps --format '{{.Names}}: {{.Status}}'",
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, args []string) error { return a.ps(cmd, f) },
	}
	fl := cmd.Flags()
	fl.BoolVarP(&f.all, "all", "a", false, "show all containers, not only running ones")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "show only container IDs")
	fl.BoolVar(&f.noTrunc, "no-trunc", false, "do not truncate IDs and commands")
	fl.StringVar(&f.format, "format", "", "a Go template, \"table ...\" or \"json\"")
	fl.StringArrayVarP(&f.filters, "filter", "f", nil, "show only containers that match: KEY=VALUE (see above)")
	fl.IntVarP(&f.last, "last", "n", -1, "show the n last created containers, in any state")
	fl.BoolVarP(&f.latest, "latest", "l", false, "show the last created container, in any state")
	fl.BoolVarP(&f.size, "size", "s", false, "show the disk each container's writable layer takes")
	return cmd
}

func (a *app) ps(cmd *cobra.Command, f psFlags) error {
	match, err := psFilter(f.filters)
	if err != nil {
		return err
	}
	if f.quiet {
		f.format = "{{.ID}}"
	}
	table := psTable
	if f.size {
		table += "\t{{.Size}}"
	}
	rf, err := parseRowFormat(f.format, table)
	if err != nil {
		return err
	}
	if f.latest {
		f.last = 1
	}
	var rows []map[string]string
	err = a.withContainers(cmd.Context(), func(m *container.Manager) error {
		cs, err := m.List(cmd.Context())
		if err != nil {
			return err
		}
		sort.SliceStable(cs, func(i, j int) bool { return cs[i].Created.After(cs[j].Created) })
		for _, c := range cs {
			if f.last >= 0 && len(rows) >= f.last {
				break
			}
			if !f.all && f.last < 0 && !c.Running() || !match(m, c) {
				continue
			}
			row := psRow(c, !f.noTrunc)
			row["Status"], row["State"] = status(m, c), m.Status(c)
			row["Ports"] = portsColumn(m.PublishedPorts(c))
			if f.size || strings.Contains(f.format, ".Size") {
				row["Size"] = a.psSize(cmd, m, c)
			}
			rows = append(rows, row)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return rf.write(a.Out, psHeaders, rows)
}

// psSize is ps's SIZE: the writable layer, and the image under it.
func (a *app) psSize(cmd *cobra.Command, m *container.Manager, c container.Container) string {
	n, _ := m.Usage(cmd.Context(), c.ID)
	s := sizeString(n, 3)
	if st, err := a.openStore(cmd.Context()); err == nil {
		if img, err := st.Get(cmd.Context(), c.ImageID); err == nil {
			s += " (virtual " + sizeString(img.Size+n, 3) + ")"
		}
		st.Close()
	}
	return s
}

// psFilter turns --filter flags into a test; values of one key are ORed,
// keys are ANDed, as docker's.
func psFilter(filters []string) (func(*container.Manager, container.Container) bool, error) {
	byKey := map[string][]string{}
	for _, f := range filters {
		k, v, ok := strings.Cut(f, "=")
		switch k {
		case "id", "name", "label", "status", "ancestor", "exited", "network":
		default:
			ok = false
		}
		if !ok {
			return nil, fmt.Errorf("--filter %q: want id=, name=, label=, status=, ancestor=, exited= or network=: %w", f, errdefs.ErrInvalidArgument)
		}
		byKey[k] = append(byKey[k], v)
	}
	one := func(m *container.Manager, c container.Container, k, v string) bool {
		switch k {
		case "id":
			return strings.HasPrefix(c.ID, v)
		case "name":
			return strings.Contains(c.Name, strings.TrimPrefix(v, "/"))
		case "label":
			lk, lv, hasValue := strings.Cut(v, "=")
			got, ok := container.Labels(c)[lk]
			return ok && (!hasValue || got == lv)
		case "status":
			return m.Status(c) == v
		case "ancestor":
			return c.Image == v || strings.HasPrefix(c.ImageID.Encoded(), strings.TrimPrefix(v, "sha256:")) || sameReference(c.Image, v)
		case "exited":
			n, err := strconv.Atoi(v)
			return err == nil && m.Status(c) == "exited" && c.ExitCode == n
		case "network":
			n := c.Settings.Options.Network
			return n == v || (n == "" && (v == "bridge" || v == "default"))
		}
		return false
	}
	return func(m *container.Manager, c container.Container) bool {
		for k, vs := range byKey {
			any := false
			for _, v := range vs {
				any = any || one(m, c, k, v)
			}
			if !any {
				return false
			}
		}
		return true
	}, nil
}

// sameReference reports whether two names mean one reference (busybox and
// docker.io/library/busybox:latest).
func sameReference(a, b string) bool {
	ra, err1 := image.ParseReference(a)
	rb, err2 := image.ParseReference(b)
	return err1 == nil && err2 == nil && ra.String() == rb.String()
}

// psRow is one container as `docker ps` shows it.
func psRow(c container.Container, trunc bool) map[string]string {
	id, command := c.ID, commandLine(c.Settings.Args)
	if trunc {
		id, command = id[:12], ellipsis(command, 20)
	}
	var labels, mounts []string
	for k, v := range container.Labels(c) {
		labels = append(labels, k+"="+v)
	}
	sort.Strings(labels)
	for _, v := range c.Settings.Options.Volumes {
		mounts = append(mounts, v.Source)
	}
	network := c.Settings.Options.Network
	if network == "" {
		network = "bridge"
	}
	return map[string]string{"ID": id, "Image": c.Image, "Command": `"` + command + `"`, "CreatedAt": since(c.Created),
		"RunningFor": since(c.Created), "Names": c.Name, "Size": "", "Status": status(nil, c), "State": c.State, "Labels": strings.Join(labels, ","),
		"Mounts": strings.Join(mounts, ","), "Networks": network}
}

// commandLine is ps's COMMAND as docker writes it: an argument with a
// space in it is single-quoted.
func commandLine(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " \t") {
			a = "'" + a + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

// status is Docker's STATUS column: Up ... (Paused), Exited (N) ... ago, or
// Created; m may be nil where pausing does not matter.
func status(m *container.Manager, c container.Container) string {
	switch {
	case m != nil && m.Paused(c):
		return "Up " + humanDuration(time.Since(c.Started)) + " (Paused)"
	case c.Running():
		return "Up " + humanDuration(time.Since(c.Started))
	case c.State == store.StateRunning: // its watcher died without saying how it ended
		return "Exited (unknown)"
	case c.State == store.StateExited:
		return fmt.Sprintf("Exited (%d) %s", c.ExitCode, since(c.Finished))
	}
	return "Created"
}
