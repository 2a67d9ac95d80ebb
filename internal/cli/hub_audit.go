package cli

import (
	"context"
	"os/user"

	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/internal/hub/audit"
	"github.com/strata-dev/strata/internal/hub/auth"
	"github.com/strata-dev/strata/internal/hub/meta"
)

func (a *app) hubAuditCommand() *cobra.Command {
	var f hubFlags
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Read the hub's audit log",
		Long: `The hub records who did what, when and from which address: sign-ins (and
failed ones), token changes, pushes, deletes, visibility and collaborator
changes, account changes and administrators' actions. Administrators read it
on the web (Admin, Audit log) or at /admin/audit/export; this command reads
it from the database, with the same --config, --data-dir or --database as
'strata hub serve'.`,
		Example: `  strata hub audit export > audit.jsonl
  strata hub audit export --user alice --action push -n 100`,
	}
	fl := cmd.PersistentFlags()
	f.dataFlags(fl)
	cmd.AddCommand(a.hubAuditExport(&f))
	return cmd
}

func (a *app) hubAuditExport(f *hubFlags) *cobra.Command {
	var q meta.AuditQuery
	cmd := &cobra.Command{
		Use:   "export [OPTIONS]",
		Short: "Write the audit log as JSON lines, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withAccounts(cmd.Context(), f, func(s *auth.Service) error {
				_, err := audit.Export(cmd.Context(), s.Meta(), q, a.Out)
				return err
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&q.Actor, "user", "", "only what this user did (or tried, for failed sign-ins)")
	fl.StringVar(&q.Action, "action", "", "only this action (push, signin.failed, tag.delete, ...)")
	fl.IntVarP(&q.N, "number", "n", 0, "at most this many entries (default all)")
	return cmd
}

// recordCLI writes an administrator's action on the command line to the
// audit log: by the operating system's user, from "local".
func recordCLI(ctx context.Context, s *auth.Service, action, target string, details map[string]string) {
	who := "cli"
	if u, err := user.Current(); err == nil {
		who = "cli:" + u.Username
	}
	s.Audit().Record(ctx, meta.AuditEvent{Action: action, Actor: who, Addr: "local", Target: target, Details: details})
}
