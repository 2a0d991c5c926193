package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/trove-project/trove/api"
	"github.com/trove-project/trove/vault"
)

func serveCmd(cfg *Config) *cobra.Command {
	var addr string
	c := &cobra.Command{
		Use:   "serve",
		Short: "Serve the vault's public API to requesters",
		Long: `Serve the vault's public HTTP API (default :8470) until interrupted.
Requesters discover datasets, ask for consent, and run jobs through it.`,
		Args: cobra.NoArgs,
		RunE: withVault(cfg, func(cmd *cobra.Command, _ []string, v *vault.Vault) error {
			logger := slog.New(slog.NewTextHandler(cfg.Stderr, nil))
			srv := api.NewServer(v, addr, logger)
			if err := srv.Open(); err != nil {
				return err
			}
			fmt.Fprintf(cfg.Stdout, "Vault %s\nPublic API on %s\nPress Ctrl-C to stop.\n", v.DID(), srv.URL())
			<-cmd.Context().Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			fmt.Fprintln(cfg.Stdout, "Stopping: letting jobs in flight finish…")
			return srv.Close(ctx)
		}),
	}
	c.Flags().StringVar(&addr, "addr", ":8470", "address of the public API")
	return c
}
