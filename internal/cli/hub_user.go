package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/strata-dev/strata/internal/errdefs"
	"github.com/strata-dev/strata/internal/hub"
	"github.com/strata-dev/strata/internal/hub/auth"
	"github.com/strata-dev/strata/internal/hub/meta"
)

func (a *app) hubUserCommand() *cobra.Command {
	var f hubFlags
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Manage the hub's accounts",
		Long: `Make and manage the hub's accounts on the machine that serves it, with the
same --data-dir, --database (or --config) as 'strata hub serve'; for a hub
of several nodes, on any machine that reaches its database. It works while
the hub serves. The first account a hub gets is an administrator, whichever way it is
made; administrators also manage users on the web, under Admin.`,
		Example: `  strata hub user create --admin alice          # asks for the password
  echo "$PASSWORD" | strata hub user create bob --password-stdin
  strata hub user ls
  strata hub user disable bob`,
	}
	yes, no := true, false
	fl := cmd.PersistentFlags()
	f.dataFlags(fl)
	for _, c := range []*cobra.Command{a.hubUserCreate(&f), a.hubUserList(&f), a.hubUserPassword(&f),
		a.hubUserFlag(&f, "disable", "Stop a user from signing in; revoke their tokens and sessions", meta.UserChange{Disabled: &yes}),
		a.hubUserFlag(&f, "enable", "Let a disabled user sign in again (with new tokens)", meta.UserChange{Disabled: &no}),
		a.hubUserFlag(&f, "promote", "Make a user an administrator", meta.UserChange{Admin: &yes}),
		a.hubUserFlag(&f, "demote", "Take a user's administrator rights away", meta.UserChange{Admin: &no}),
		a.hubUserRemove(&f)} {
		cmd.AddCommand(c)
	}
	return cmd
}

// withAccounts opens the hub's data for account commands.
func (a *app) withAccounts(ctx context.Context, f *hubFlags, fn func(*auth.Service) error) error {
	cfg, err := f.resolve(a)
	if err != nil {
		return err
	}
	cfg.Open = false
	deps, err := hub.Open(ctx, cfg, a.log)
	if err != nil {
		return err
	}
	defer deps.Meta.Close()
	return fn(deps.Auth)
}

// readPassword reads a new password from stdin, or asks twice on a terminal.
func (a *app) readPassword(fromStdin bool, who string) (string, error) {
	if fromStdin {
		b, err := io.ReadAll(a.In)
		return strings.TrimRight(string(b), "\r\n"), err
	}
	in, ok := a.In.(*os.File)
	if !ok || !term.IsTerminal(int(in.Fd())) {
		return "", fmt.Errorf("cannot ask for a password without a terminal: use --password-stdin: %w", errdefs.ErrInvalidArgument)
	}
	var pw [2]string
	for i, prompt := range []string{"Password for " + who + ": ", "Again: "} {
		fmt.Fprint(a.Out, prompt)
		b, err := term.ReadPassword(int(in.Fd()))
		fmt.Fprintln(a.Out)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		pw[i] = string(b)
	}
	if pw[0] != pw[1] {
		return "", fmt.Errorf("the passwords differ: %w", errdefs.ErrInvalidArgument)
	}
	return pw[0], nil
}

func (a *app) hubUserCreate(f *hubFlags) *cobra.Command {
	var admin, stdin bool
	cmd := &cobra.Command{
		Use:   "create [--admin] NAME",
		Short: "Make an account",
		Long: `Make an account. NAME is 2 to 39 lowercase letters, digits and single dashes;
the user pushes to NAME/... . The password comes from --password-stdin, or is
asked for twice on a terminal, and is stored as an argon2id hash.`,
		Example: `  strata hub user create --admin alice
  echo "$PASSWORD" | strata hub user create bob --password-stdin --data-dir /srv/hub`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := auth.CheckName(name); err != nil {
				return err
			}
			pw, err := a.readPassword(stdin, name)
			if err != nil {
				return err
			}
			return a.withAccounts(cmd.Context(), f, func(s *auth.Service) error {
				if err := s.CreateUser(cmd.Context(), name, pw, admin); err != nil {
					return err
				}
				recordCLI(cmd.Context(), s, meta.AuditUserCreate, name, map[string]string{"admin": yesNo(admin)})
				u, err := s.Meta().User(cmd.Context(), name)
				if err == nil && u.Admin {
					fmt.Fprintf(a.Out, "Created administrator %s\n", name)
				} else if err == nil {
					fmt.Fprintf(a.Out, "Created user %s\n", name)
				}
				return err
			})
		},
	}
	cmd.Flags().BoolVar(&admin, "admin", false, "make the user an administrator (the hub's first user always is)")
	cmd.Flags().BoolVar(&stdin, "password-stdin", false, "read the password from stdin")
	return cmd
}

func (a *app) hubUserList(f *hubFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the accounts",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withAccounts(cmd.Context(), f, func(s *auth.Service) error {
				users, err := s.Meta().Users(cmd.Context())
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(a.Out, 0, 8, 3, ' ', 0)
				fmt.Fprintln(tw, "NAME\tADMIN\tDISABLED\tDEFAULT VISIBILITY\tCREATED")
				for _, u := range users {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Name, yesNo(u.Admin), yesNo(u.Disabled), u.DefaultVisibility,
						u.CreatedAt.UTC().Format(time.DateTime))
				}
				return tw.Flush()
			})
		},
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func (a *app) hubUserPassword(f *hubFlags) *cobra.Command {
	var stdin bool
	cmd := &cobra.Command{
		Use:   "passwd NAME",
		Short: "Set a user's password (signs them out everywhere)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := a.readPassword(stdin, args[0])
			if err != nil {
				return err
			}
			return a.withAccounts(cmd.Context(), f, func(s *auth.Service) error {
				if err := s.SetPassword(cmd.Context(), args[0], pw); err != nil {
					return err
				}
				recordCLI(cmd.Context(), s, meta.AuditPassword, args[0], nil)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&stdin, "password-stdin", false, "read the password from stdin")
	return cmd
}

// hubUserFlag is a command that changes one flag of a user.
func (a *app) hubUserFlag(f *hubFlags, use, short string, change meta.UserChange) *cobra.Command {
	return &cobra.Command{
		Use:   use + " NAME",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withAccounts(cmd.Context(), f, func(s *auth.Service) error {
				if err := s.Meta().UpdateUser(cmd.Context(), args[0], change); err != nil {
					return err
				}
				recordCLI(cmd.Context(), s, meta.AuditUserChange, args[0], map[string]string{"op": use})
				return nil
			})
		},
	}
}

func (a *app) hubUserRemove(f *hubFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "rm NAME",
		Aliases: []string{"delete"},
		Short:   "Delete a user, their tokens and their repositories",
		Long: `Delete a user with their tokens, sessions, collaborations and repositories.
The repositories' blobs are freed by the next garbage collection.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withAccounts(cmd.Context(), f, func(s *auth.Service) error {
				if err := s.Meta().DeleteUser(cmd.Context(), args[0]); err != nil {
					return err
				}
				recordCLI(cmd.Context(), s, meta.AuditUserChange, args[0], map[string]string{"op": "delete"})
				fmt.Fprintf(a.Out, "Deleted user %s\n", args[0])
				return nil
			})
		},
	}
}
