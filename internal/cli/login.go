package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/strata-dev/strata/internal/credentials"
	"github.com/strata-dev/strata/internal/errdefs"
)

type loginOptions struct {
	username, password string
	passwordStdin      bool
}

func (a *app) loginCommand() *cobra.Command {
	var o loginOptions
	cmd := &cobra.Command{
		Use:   "login [OPTIONS] [SERVER]",
		Short: "Log in to a registry",
		Long: `Log in to a registry: Docker Hub when no SERVER is given.

The credentials are checked against the registry before they are saved, in
Docker's config.json ($DOCKER_CONFIG, default ~/.docker), so docker and strata
share logins. A credential helper configured there (credsStore, credHelpers)
keeps the secret instead of the file.`,
		Example: `  strata login -u alice localhost:5000
  echo "$TOKEN" | strata login -u alice --password-stdin ghcr.io
  strata login                      # Docker Hub, asking for username and password`,
		Args:    cobra.MaximumNArgs(1),
		GroupID: "registry",
		RunE: func(cmd *cobra.Command, args []string) error {
			server := ""
			if len(args) == 1 {
				server = args[0]
			}
			return a.login(cmd, server, o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.username, "username", "u", "", "username")
	f.StringVarP(&o.password, "password", "p", "", "password (prefer --password-stdin: arguments are visible to other users)")
	f.BoolVar(&o.passwordStdin, "password-stdin", false, "read the password from stdin")
	return cmd
}

func (a *app) login(cmd *cobra.Command, server string, o loginOptions) error {
	domain := registryDomain(server)
	key := credentials.ServerKey(domain)
	switch {
	case o.password != "" && o.passwordStdin:
		return fmt.Errorf("--password and --password-stdin are mutually exclusive: %w", errdefs.ErrInvalidArgument)
	case o.passwordStdin && o.username == "":
		return fmt.Errorf("--password-stdin needs --username: %w", errdefs.ErrInvalidArgument)
	case o.password != "":
		fmt.Fprintln(a.Err, "WARNING! Using --password via the CLI is insecure. Use --password-stdin.")
	}
	if o.passwordStdin {
		b, err := io.ReadAll(a.In)
		if err != nil {
			return err
		}
		o.password = strings.TrimRight(string(b), "\r\n")
	}
	file, err := credentials.Load(credentials.Dir(a.getenv))
	if err != nil {
		return err
	}
	client, err := a.registryClient()
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	cred := credentials.Credential{Username: o.username, Password: o.password}
	if cred.Username == "" && cred.Password == "" {
		// Docker tries the saved login first and asks only when it fails.
		if saved, err := file.Get(key); err == nil && !saved.Empty() {
			if client.Login(ctx, domain, saved) == nil {
				fmt.Fprintln(a.Out, "Authenticating with existing credentials...")
				fmt.Fprintln(a.Out, "Login Succeeded")
				return nil
			}
		}
	}
	if cred, err = a.askCredentials(cred, key); err != nil {
		return err
	}
	if err := client.Login(ctx, domain, cred); err != nil {
		if errors.Is(err, errdefs.ErrUnauthorized) {
			return fmt.Errorf("login to %s failed: %w", key, err)
		}
		return err
	}
	if err := file.Set(key, cred); err != nil {
		return err
	}
	fmt.Fprintln(a.Out, "Login Succeeded")
	return nil
}

// askCredentials prompts for what is missing, on a terminal only.
func (a *app) askCredentials(cred credentials.Credential, server string) (credentials.Credential, error) {
	if cred.Username != "" && cred.Password != "" {
		return cred, nil
	}
	in, ok := a.In.(*os.File)
	if !ok || !term.IsTerminal(int(in.Fd())) {
		return cred, fmt.Errorf("cannot ask for a username and password without a terminal: use -u and --password-stdin: %w", errdefs.ErrInvalidArgument)
	}
	if cred.Username == "" {
		fmt.Fprintf(a.Out, "Log in to %s.\nUsername: ", server)
		line, err := bufio.NewReader(in).ReadString('\n')
		if err != nil && line == "" {
			return cred, fmt.Errorf("read username: %w", err)
		}
		cred.Username = strings.TrimSpace(line)
		if cred.Username == "" {
			return cred, fmt.Errorf("a username is needed: %w", errdefs.ErrInvalidArgument)
		}
	}
	fmt.Fprint(a.Out, "Password: ")
	pw, err := term.ReadPassword(int(in.Fd()))
	fmt.Fprintln(a.Out)
	if err != nil {
		return cred, fmt.Errorf("read password: %w", err)
	}
	cred.Password = string(pw)
	if cred.Password == "" {
		return cred, fmt.Errorf("a password is needed: %w", errdefs.ErrInvalidArgument)
	}
	return cred, nil
}

func (a *app) logoutCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "logout [SERVER]",
		Short: "Log out from a registry",
		Long: `Log out from a registry (Docker Hub when no SERVER is given): forget its
login in Docker's config.json, or in the credential helper that keeps it.`,
		Example: `  strata logout localhost:5000
  strata logout`,
		Args:    cobra.MaximumNArgs(1),
		GroupID: "registry",
		RunE: func(cmd *cobra.Command, args []string) error {
			server := ""
			if len(args) == 1 {
				server = args[0]
			}
			key := credentials.ServerKey(registryDomain(server))
			file, err := credentials.Load(credentials.Dir(a.getenv))
			if err != nil {
				return err
			}
			err = file.Erase(key)
			if errors.Is(err, errdefs.ErrNotFound) {
				fmt.Fprintf(a.Out, "Not logged in to %s\n", key)
				return nil
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(a.Out, "Removing login credentials for %s\n", key)
			return nil
		},
	}
}
