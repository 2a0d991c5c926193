package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/vault"
)

// Exit codes, one per trove error code: the only place they are mapped.
const (
	exitOK          = 0
	exitFailure     = 1 // internal or unexpected
	exitInvalid     = 2 // bad input or usage
	exitNotFound    = 3
	exitForbidden   = 4 // refused by a credential, a passphrase or a check
	exitConflict    = 5
	exitUnavailable = 6 // the vault cannot serve or write now; try again
)

func exitCode(err error) int {
	switch trove.ErrorCode(err) {
	case "":
		return exitOK
	case trove.EINVALID, trove.ETOOLARGE:
		return exitInvalid
	case trove.ENOTFOUND:
		return exitNotFound
	case trove.EFORBIDDEN, trove.EUNAUTHORIZED:
		return exitForbidden
	case trove.ECONFLICT:
		return exitConflict
	case trove.EUNAVAILABLE, trove.ETOOMANY:
		return exitUnavailable
	}
	return exitFailure
}

// usageError marks a command-line mistake.
func usageError(format string, args ...any) error {
	return trove.Errorf(trove.EINVALID, format, args...)
}

// Run runs the trove command line with args and returns the exit code.
func Run(ctx context.Context, args []string, cfg Config) int {
	root := newRoot(&cfg)
	root.SetArgs(args)
	root.SetIn(cfg.Stdin)
	root.SetOut(cfg.Stdout)
	root.SetErr(cfg.Stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(cfg.Stderr, "trove: %v\n", err)
	return exitCode(err)
}

func newRoot(cfg *Config) *cobra.Command {
	root := &cobra.Command{
		Use:   "trove",
		Short: "A personal data vault: the algorithm comes to the data, the owner decides, every use is logged and paid for",
		Long: `trove keeps your data encrypted on your own machine. AI companies ask for
consent to run an algorithm on it; you approve or deny; the algorithm runs in
a sandbox inside your vault; every access goes into a tamper-evident log, and
every run yields a receipt and a compensation claim.

Start with:  trove demo`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&cfg.Home, "home", cfg.Home, "vault home directory ($TROVE_HOME)")
	root.PersistentFlags().StringVar(&cfg.RequesterHome, "requester-home", cfg.RequesterHome, "requester home directory ($TROVE_REQUESTER_HOME)")
	root.AddGroup(&cobra.Group{ID: "owner", Title: "Vault owner:"}, &cobra.Group{ID: "requester", Title: "Requester (AI company, researcher):"})
	for _, c := range []*cobra.Command{initCmd(cfg), didCmd(cfg), serveCmd(cfg), uiCmd(cfg), dataCmd(cfg), consentCmd(cfg), policyCmd(cfg), logCmd(cfg), claimsCmd(cfg), jobsCmd(cfg)} {
		c.GroupID = "owner"
		root.AddCommand(c)
	}
	for _, c := range []*cobra.Command{requesterCmd(cfg), requestCmd(cfg), receiptCmd(cfg), trainCmd(cfg)} {
		c.GroupID = "requester"
		root.AddCommand(c)
	}
	root.AddCommand(demoCmd(cfg), simCmd(cfg))
	return root
}

// openVault opens the vault in the configured home.
func openVault(ctx context.Context, cfg *Config) (*vault.Vault, error) {
	if !vault.Exists(cfg.Home) {
		return nil, trove.Errorf(trove.ENOTFOUND, "no vault in %s (run `trove init`, or set --home / TROVE_HOME)", cfg.Home)
	}
	pass, err := cfg.passphrase("Passphrase for the vault in "+cfg.Home, false)
	if err != nil {
		return nil, usageError("%v", err)
	}
	return vault.Open(ctx, vault.Config{Home: cfg.Home, PublicURL: cfg.PublicURL, WebHost: cfg.WebHost}, pass)
}

// withVault wraps the body of a command that needs the opened vault.
func withVault(cfg *Config, fn func(cmd *cobra.Command, args []string, v *vault.Vault) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		v, err := openVault(cmd.Context(), cfg)
		if err != nil {
			return err
		}
		defer v.Close()
		return fn(cmd, args, v)
	}
}
