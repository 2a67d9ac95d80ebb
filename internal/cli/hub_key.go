package cli

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/strata-dev/strata/internal/hub/auth"
	"github.com/strata-dev/strata/internal/hub/meta"
)

func (a *app) hubKeyCommand() *cobra.Command {
	var f hubFlags
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Manage the keys the hub signs its tokens with",
		Long: `The hub signs bearer tokens with keys kept in its database, so that every
node of a hub signs with the same key and accepts every node's tokens. A key
signs for --key-rotation (default 30 days), then the next one, published an
hour before in the JWKS document (/auth/jwks.json), takes over; the old one
still verifies for a day, far longer than any token lives. Use the same
--config, --data-dir or --database as 'strata hub serve'; it works while the
hub serves.`,
		Example: `  strata hub key ls
  strata hub key rotate                 # the new key signs in an hour
  strata hub key rotate --publish 0     # at once
  strata hub key rm -- KID              # a key that leaked: its tokens are refused`,
	}
	fl := cmd.PersistentFlags()
	f.dataFlags(fl)
	cmd.AddCommand(a.hubKeyList(&f), a.hubKeyRotate(&f), a.hubKeyRemove(&f))
	return cmd
}

func (a *app) hubKeyList(f *hubFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the signing keys",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withAccounts(cmd.Context(), f, func(s *auth.Service) error {
				keys, err := s.SigningKeys(cmd.Context())
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(a.Out, 0, 8, 3, ' ', 0)
				fmt.Fprintln(tw, "KEY ID\tSTATE\tCREATED\tSIGNS FROM\tDELETED AT")
				for _, k := range keys {
					retires := "-"
					if !k.Retires.IsZero() {
						retires = when(k.Retires)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.State, when(k.CreatedAt), when(k.SignFrom), retires)
				}
				return tw.Flush()
			})
		},
	}
}

// when is a time as the key table shows it.
func when(t time.Time) string {
	if t.Unix() <= 0 {
		return "-"
	}
	return t.UTC().Format(time.DateTime)
}

func (a *app) hubKeyRotate(f *hubFlags) *cobra.Command {
	var publish time.Duration
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Make the next signing key",
		Long: `Make a new signing key. It is published at once and signs after --publish;
tokens signed with the keys before it stay good until they expire.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withAccounts(cmd.Context(), f, func(s *auth.Service) error {
				k, err := s.RotateKey(cmd.Context(), publish)
				if err != nil {
					return err
				}
				recordCLI(cmd.Context(), s, meta.AuditKeyRotate, k.ID, map[string]string{"signs_from": k.SignFrom.UTC().Format(time.RFC3339)})
				fmt.Fprintf(a.Out, "Added key %s: it signs from %s\n", k.ID, when(k.SignFrom))
				return nil
			})
		},
	}
	cmd.Flags().DurationVar(&publish, "publish", time.Hour, "how long the key is published before it signs")
	return cmd
}

func (a *app) hubKeyRemove(f *hubFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "rm [--] KID",
		Short: "Revoke a signing key at once (the tokens it signed are refused)",
		Long: `Delete a signing key, for one that leaked: every token it signed is refused,
by every node within 30 seconds. Revoking the key that signs makes a new one
that signs at once. Key ids may start with "-": put "--" before one.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withAccounts(cmd.Context(), f, func(s *auth.Service) error {
				if err := s.RevokeKey(cmd.Context(), args[0]); err != nil {
					return err
				}
				recordCLI(cmd.Context(), s, meta.AuditKeyRevoke, args[0], nil)
				fmt.Fprintf(a.Out, "Revoked key %s\n", args[0])
				return nil
			})
		},
	}
}
