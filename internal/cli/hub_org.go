package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub/auth"
	"github.com/strata-dev/strata/internal/hub/meta"
)

func (a *app) hubOrgCommand() *cobra.Command {
	var f hubFlags
	cmd := &cobra.Command{
		Use:   "org",
		Short: "Manage the hub's organizations, their members, teams and tokens",
		Long: `Make and manage organizations on the machine that serves the hub (with the
same --data-dir, --database or --config as 'strata hub serve'), as their
owners do on the website. An organization owns the namespace of its name;
its owners push there and grant teams read, write or admin on its
repositories. Every change is in the audit log.`,
		Example: `  strata hub org create acme --owner alice
  strata hub org add acme bob
  strata hub org team acme devs --member bob --grant acme/app=write
  strata hub org token acme ci --scope read-write
  strata hub org show acme`,
	}
	fl := cmd.PersistentFlags()
	f.dataFlags(fl)
	cmd.AddCommand(a.hubOrgCreate(&f), a.hubOrgList(&f), a.hubOrgShow(&f), a.hubOrgMember(&f, true), a.hubOrgMember(&f, false),
		a.hubOrgTeam(&f), a.hubOrgToken(&f), a.hubOrgRemove(&f))
	return cmd
}

// orgRun is a command that works on the hub's accounts.
func (a *app) orgRun(f *hubFlags, fn func(cmd *cobra.Command, s *auth.Service, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		return a.withAccounts(cmd.Context(), f, func(s *auth.Service) error { return fn(cmd, s, args) })
	}
}

func (a *app) hubOrgCreate(f *hubFlags) *cobra.Command {
	var owner string
	cmd := &cobra.Command{
		Use:   "create ORG --owner USER",
		Short: "Make an organization owned by a user",
		Args:  cobra.ExactArgs(1),
		RunE: a.orgRun(f, func(cmd *cobra.Command, s *auth.Service, args []string) error {
			if err := auth.CheckName(args[0]); err != nil {
				return err
			}
			if owner == "" {
				return fmt.Errorf("name its first owner with --owner: %w", errdefs.ErrInvalidArgument)
			}
			err := s.Meta().CreateOrg(cmd.Context(), meta.Org{Name: args[0], CreatedBy: owner, CreatedAt: time.Now()})
			if err != nil {
				return err
			}
			recordCLI(cmd.Context(), s, meta.AuditOrgCreate, args[0], map[string]string{"org": args[0], "owner": owner})
			fmt.Fprintf(a.Out, "Created organization %s, owned by %s\n", args[0], owner)
			return nil
		}),
	}
	cmd.Flags().StringVar(&owner, "owner", "", "the user who owns it first")
	return cmd
}

func (a *app) hubOrgList(f *hubFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the organizations",
		Args:    cobra.NoArgs,
		RunE: a.orgRun(f, func(cmd *cobra.Command, s *auth.Service, _ []string) error {
			orgs, err := s.Meta().OrgsOf(cmd.Context(), "")
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(a.Out, 0, 8, 3, ' ', 0)
			fmt.Fprintln(tw, "NAME\tCREATED BY\tCREATED")
			for _, o := range orgs {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", o.Name, o.CreatedBy, o.CreatedAt.UTC().Format(time.DateTime))
			}
			return tw.Flush()
		}),
	}
}

func (a *app) hubOrgShow(f *hubFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "show ORG",
		Short: "Show an organization's members and teams",
		Args:  cobra.ExactArgs(1),
		RunE: a.orgRun(f, func(cmd *cobra.Command, s *auth.Service, args []string) error {
			ctx, m, org := cmd.Context(), s.Meta(), args[0]
			if _, err := m.Org(ctx, org); err != nil {
				return err
			}
			members, err := m.Members(ctx, org)
			if err != nil {
				return err
			}
			teams, err := m.Teams(ctx, org)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(a.Out, 0, 8, 3, ' ', 0)
			fmt.Fprintln(tw, "MEMBER\tROLE")
			for _, mb := range members {
				fmt.Fprintf(tw, "%s\t%s\n", mb.User, mb.Role)
			}
			fmt.Fprintln(tw, "\nTEAM\tMEMBERS\tREPOSITORIES")
			for _, t := range teams {
				users, err := m.TeamMembers(ctx, org, t.Name)
				if err != nil {
					return err
				}
				grants, err := m.Grants(ctx, org, t.Name)
				if err != nil {
					return err
				}
				var gs []string
				for _, g := range grants {
					gs = append(gs, g.Repository+"="+string(g.Role))
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", t.Name, strings.Join(users, ","), strings.Join(gs, ","))
			}
			return tw.Flush()
		}),
	}
}

// hubOrgMember adds (or makes owner) a member, or takes one out.
func (a *app) hubOrgMember(f *hubFlags, add bool) *cobra.Command {
	var owner bool
	use, short := "add ORG USER", "Make a user a member (or, with --owner, an owner) of an organization"
	if !add {
		use, short = "remove ORG USER", "Take a user out of an organization and its teams"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(2),
		RunE: a.orgRun(f, func(cmd *cobra.Command, s *auth.Service, args []string) error {
			org, user := args[0], args[1]
			details := map[string]string{"org": org, "user": user}
			if !add {
				if err := s.Meta().RemoveMember(cmd.Context(), org, user); err != nil {
					return err
				}
				recordCLI(cmd.Context(), s, meta.AuditMemberOff, org, details)
				return nil
			}
			role := meta.OrgMember
			if owner {
				role = meta.OrgOwner
			}
			if err := s.Meta().SetMember(cmd.Context(), org, user, role); err != nil {
				return err
			}
			details["role"] = string(role)
			recordCLI(cmd.Context(), s, meta.AuditMember, org, details)
			return nil
		}),
	}
	if add {
		cmd.Flags().BoolVar(&owner, "owner", false, "make the user an owner")
	}
	return cmd
}

func (a *app) hubOrgTeam(f *hubFlags) *cobra.Command {
	var members, grants []string
	var remove bool
	cmd := &cobra.Command{
		Use:   "team ORG TEAM [--member USER]... [--grant REPO=ROLE]...",
		Short: "Make a team (if it is new), add members and grant it repositories",
		Long: `Make a team of an organization when it has none of that name, put members in it
(they join the organization too), and grant it a role on repositories of the
organization: read (pull), write (push too) or admin (delete and manage too).
With --rm, delete the team instead.`,
		Args: cobra.ExactArgs(2),
		RunE: a.orgRun(f, func(cmd *cobra.Command, s *auth.Service, args []string) error {
			ctx, m, org, team := cmd.Context(), s.Meta(), args[0], args[1]
			details := func(kv ...string) map[string]string {
				d := map[string]string{"org": org, "team": team}
				for i := 0; i+1 < len(kv); i += 2 {
					d[kv[i]] = kv[i+1]
				}
				return d
			}
			if remove {
				if err := m.DeleteTeam(ctx, org, team); err != nil {
					return err
				}
				recordCLI(ctx, s, meta.AuditTeamDelete, org, details())
				return nil
			}
			if err := auth.CheckName(team); err != nil {
				return fmt.Errorf("team %q: use 2 to 39 lowercase letters, digits and single dashes: %w", team, errdefs.ErrInvalidArgument)
			}
			err := m.CreateTeam(ctx, meta.Team{Org: org, Name: team, CreatedAt: time.Now()})
			if err == nil {
				recordCLI(ctx, s, meta.AuditTeamCreate, org, details())
			} else if !errdefs.IsAlreadyExists(err) {
				return err
			}
			for _, u := range members {
				if err := m.AddTeamMember(ctx, org, team, u); err != nil {
					return err
				}
				recordCLI(ctx, s, meta.AuditTeamMember, org, details("user", u))
			}
			for _, g := range grants {
				repo, role, ok := strings.Cut(g, "=")
				if !ok {
					return fmt.Errorf("--grant %q: write REPO=ROLE (read, write or admin): %w", g, errdefs.ErrInvalidArgument)
				}
				if err := m.SetGrant(ctx, org, team, repo, meta.Role(role)); err != nil {
					return err
				}
				recordCLI(ctx, s, meta.AuditGrant, org, details("repository", repo, "role", role))
			}
			return nil
		}),
	}
	cmd.Flags().StringArrayVar(&members, "member", nil, "a user to put in the team (repeatable)")
	cmd.Flags().StringArrayVar(&grants, "grant", nil, "REPO=ROLE: the team's role on a repository of the organization (repeatable)")
	cmd.Flags().BoolVar(&remove, "rm", false, "delete the team")
	return cmd
}

func (a *app) hubOrgToken(f *hubFlags) *cobra.Command {
	var scope string
	var days int
	cmd := &cobra.Command{
		Use:   "token ORG NAME",
		Short: "Make an organization access token (for CI) and print it",
		Long: `Make an access token of the organization and print it (it is shown only now).
It logs in with the organization's name: docker login -u ORG. A read token
pulls the organization's repositories; a read-write one pushes too.`,
		Args: cobra.ExactArgs(2),
		RunE: a.orgRun(f, func(cmd *cobra.Command, s *auth.Service, args []string) error {
			var expires time.Time
			if days > 0 {
				expires = time.Now().Add(time.Duration(days) * 24 * time.Hour)
			}
			secret, id, err := s.CreateOrgToken(cmd.Context(), args[0], args[1], "cli", auth.Scope(scope), expires)
			if err != nil {
				return err
			}
			recordCLI(cmd.Context(), s, meta.AuditOrgTokenCreate, args[0], map[string]string{"org": args[0], "id": fmt.Sprint(id),
				"name": args[1], "scope": scope})
			fmt.Fprintln(a.Out, secret)
			return nil
		}),
	}
	cmd.Flags().StringVar(&scope, "scope", string(auth.ScopeRead), "read or read-write")
	cmd.Flags().IntVar(&days, "expires", 0, "days until it expires (0: never)")
	return cmd
}

func (a *app) hubOrgRemove(f *hubFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "rm ORG",
		Aliases: []string{"delete"},
		Short:   "Delete an organization that has no repositories left",
		Args:    cobra.ExactArgs(1),
		RunE: a.orgRun(f, func(cmd *cobra.Command, s *auth.Service, args []string) error {
			if err := s.Meta().DeleteOrg(cmd.Context(), args[0]); err != nil {
				return err
			}
			recordCLI(cmd.Context(), s, meta.AuditOrgDelete, args[0], map[string]string{"org": args[0]})
			fmt.Fprintf(a.Out, "Deleted organization %s\n", args[0])
			return nil
		}),
	}
}
