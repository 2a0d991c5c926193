package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/api"
	"github.com/trove-project/trove/ui"
	"github.com/trove-project/trove/vault"
)

func serveCmd(cfg *Config) *cobra.Command {
	var addr, uiAddr string
	var uiRemote bool
	c := &cobra.Command{
		Use:   "serve",
		Short: "Serve the vault's public API to requesters and your web UI to you",
		Long: `Serve the vault's public HTTP API (default :8470) and your own web UI
(default 127.0.0.1:8471) until interrupted. Requesters discover datasets, ask
for consent, and run jobs through the API; you review requests and see every
access and payment in the UI.

The UI listens on loopback only. You sign in with a one-time link, printed
here; ` + "`trove ui`" + ` prints a fresh one (the server keeps it in the vault home,
readable only by you). --ui-allow-remote lets the UI listen on another
address: anyone who can reach it and steal a link could act as you.`,
		Args: cobra.NoArgs,
		RunE: withVault(cfg, func(cmd *cobra.Command, _ []string, v *vault.Vault) error {
			if err := ui.CheckAddr(uiAddr, uiRemote); err != nil {
				return err
			}
			logger := slog.New(slog.NewTextHandler(cfg.Stderr, nil))
			// Jobs a previous server left running (it crashed or was
			// killed) are failed: their results never left.
			if n, err := v.FailInterruptedJobs(cmd.Context()); err != nil {
				return err
			} else if n > 0 {
				logger.Warn("failed jobs interrupted by a previous stop", "jobs", n)
			}
			// Signed requests accepted are remembered in the vault home,
			// so a restart does not reopen their replay window.
			nonces, err := vault.OpenNonces(cmd.Context(), vault.NoncesConfig{Home: v.Home()})
			if err != nil {
				return err
			}
			defer nonces.Close()
			srv := api.NewServer(v, addr, logger)
			srv.SetNonceStore(nonces)
			metrics := api.NewMetrics(v)
			srv.SetMetrics(metrics)
			if err := srv.Open(); err != nil {
				return err
			}
			uiSrv, err := ui.NewServer(v, ui.Config{Addr: uiAddr, AllowRemote: uiRemote, LinkFile: filepath.Join(v.Home(), ui.LinkFileName), Logger: logger,
				Metrics: metrics.Handler()})
			if err == nil {
				err = uiSrv.Open()
			}
			if err != nil {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				return errors.Join(err, srv.Close(ctx))
			}
			if uiRemote {
				fmt.Fprintf(cfg.Stderr, "WARNING: the owner UI listens on %s, not only on this computer. Anyone who can reach it and get hold of a sign-in link can act as you. Prefer loopback with an SSH tunnel.\n", uiAddr)
			}
			fmt.Fprintf(cfg.Stdout, "Vault %s\nPublic API on %s\nYour UI on %s\nSign in (once) with: %s\nPress Ctrl-C to stop.\n",
				v.DID(), srv.URL(), uiSrv.URL(), uiSrv.LoginLink())
			<-cmd.Context().Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			fmt.Fprintln(cfg.Stdout, "Stopping: letting jobs in flight finish…")
			return errors.Join(srv.Close(ctx), uiSrv.Close(ctx))
		}),
	}
	c.Flags().StringVar(&addr, "addr", ":8470", "address of the public API")
	c.Flags().StringVar(&uiAddr, "ui-addr", ui.DefaultAddr, "address of your web UI (loopback only, unless --ui-allow-remote)")
	c.Flags().BoolVar(&uiRemote, "ui-allow-remote", false, "let the web UI listen on a non-loopback address (not recommended)")
	return c
}

func uiCmd(cfg *Config) *cobra.Command {
	var noOpen bool
	c := &cobra.Command{
		Use:   "ui",
		Short: "Print (and open) a one-time sign-in link to the web UI of a running `trove serve`",
		Long: `Print a one-time sign-in link to your web UI, and open it in your browser.
` + "`trove serve`" + ` must be running for this vault: it keeps a fresh, unused link in
the vault home (file ` + ui.LinkFileName + `, readable only by you), and replaces it
each time one is used. No passphrase is needed: being able to read your vault
home is the proof that you are its owner.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := os.ReadFile(filepath.Join(cfg.Home, ui.LinkFileName))
			if errors.Is(err, os.ErrNotExist) {
				return trove.Errorf(trove.ENOTFOUND, "no running `trove serve` for the vault in %s (start it first)", cfg.Home)
			} else if err != nil {
				return fmt.Errorf("read the sign-in link: %w", err)
			}
			link := strings.TrimSpace(string(b))
			if !strings.HasPrefix(link, "http://") && !strings.HasPrefix(link, "https://") || len(link) > 512 {
				return trove.Errorf(trove.EINVALID, "the sign-in link file in %s is damaged; restart `trove serve`", cfg.Home)
			}
			fmt.Fprintf(cfg.Stdout, "Sign in (once) with: %s\n", link)
			if !noOpen {
				if err := openBrowser(link); err != nil {
					fmt.Fprintln(cfg.Stderr, "(could not open a browser; copy the link above)")
				}
			}
			return nil
		},
	}
	c.Flags().BoolVar(&noOpen, "no-open", false, "only print the link")
	return c
}

// openBrowser opens link in the desktop's browser, without waiting.
func openBrowser(link string) error {
	name := "xdg-open"
	switch runtime.GOOS {
	case "darwin":
		name = "open"
	case "windows":
		return errors.New("opening a browser is not supported here")
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return err
	}
	c := exec.Command(path, link)
	if err := c.Start(); err != nil {
		return err
	}
	go c.Wait()
	return nil
}
