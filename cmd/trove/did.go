package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/did"
	"github.com/trove-project/trove/ledger"
	"github.com/trove-project/trove/vault"
)

// didInfo is what `trove did show --json` prints.
type didInfo struct {
	DID       string        `json:"did"`
	WebDID    string        `json:"web_did,omitempty"`
	Earlier   []string      `json:"earlier_dids"`
	Rotations []rotationRow `json:"rotations"`
}

// rotationRow is one key rotation as `trove did show` prints it.
type rotationRow struct {
	Old      string    `json:"old"`
	New      string    `json:"new"`
	LogIndex uint64    `json:"log_index"`
	At       time.Time `json:"at"`
}

func didCmd(cfg *Config) *cobra.Command {
	c := &cobra.Command{Use: "did", Short: "Your vault's identity: show its DID, rotate its key"}
	var asJSON bool
	show := &cobra.Command{
		Use:   "show",
		Short: "Show the vault's DID, the DIDs it had before, and its key rotations",
		Args:  cobra.NoArgs,
		RunE: withVault(cfg, func(cmd *cobra.Command, _ []string, v *vault.Vault) error {
			links, err := v.Rotations(cmd.Context())
			if err != nil {
				return err
			}
			info := didInfo{DID: v.DID(), Earlier: v.OwnerDIDs()[1:], Rotations: []rotationRow{}}
			if cfg.WebHost != "" {
				if info.WebDID, err = did.WebDID(cfg.WebHost); err != nil {
					return usageError("TROVE_WEB_HOST: %v", err)
				}
			}
			for _, l := range links {
				r, err := ledger.VerifyRotation(l.Statement, l.Cosignature)
				if err != nil {
					return fmt.Errorf("rotation at log index %d: %w", l.Index, err)
				}
				info.Rotations = append(info.Rotations, rotationRow{Old: r.Old, New: r.New, LogIndex: l.Index, At: r.IssuedAt})
			}
			if asJSON {
				enc := json.NewEncoder(cfg.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(info)
			}
			fmt.Fprintf(cfg.Stdout, "DID: %s\n", info.DID)
			if info.WebDID != "" {
				fmt.Fprintf(cfg.Stdout, "did:web: %s (its document lists every key below)\n", info.WebDID)
			}
			if len(info.Rotations) == 0 {
				fmt.Fprintln(cfg.Stdout, "Key never rotated.")
				return nil
			}
			fmt.Fprintln(cfg.Stdout, "Rotations (oldest first):")
			for _, r := range info.Rotations {
				fmt.Fprintf(cfg.Stdout, "  %s  log entry %d\n    from %s\n    to   %s\n", r.At.Format(time.RFC3339), r.LogIndex, r.Old, r.New)
			}
			return nil
		}),
	}
	show.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Give your vault a new key, and so a new did:key",
		Long: `Give your vault a new owner key. A did:key is its key, so the vault gets a
new DID; requesters follow it through GET /v1/did/rotations, a chain signed
by the old key and co-signed by the new one and recorded in the log (a
did.rotated entry; the old key's last checkpoint is the handover).

The new key is sealed under the same passphrase at the same work factor, and
every dataset key is sealed anew under it; the old private key is discarded.
Everything the old DID signed stays valid: consents keep running, receipts
and claims verify with the DID that signed them. Rotation revokes nothing:
if the old key may be compromised, revoke its consents too
(trove consent revoke). Restart trove serve afterwards: a server still
holding the old key refuses to sign (key_rotated).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !vault.Exists(cfg.Home) {
				return trove.Errorf(trove.ENOTFOUND, "no vault in %s (run `trove init`, or set --home / TROVE_HOME)", cfg.Home)
			}
			pass, err := cfg.passphrase("Passphrase for the vault in "+cfg.Home, false)
			if err != nil {
				return usageError("%v", err)
			}
			v, err := vault.Open(cmd.Context(), vault.Config{Home: cfg.Home, PublicURL: cfg.PublicURL, WebHost: cfg.WebHost}, pass)
			if err != nil {
				return err
			}
			defer v.Close()
			r, err := v.Rotate(cmd.Context(), pass)
			if err != nil {
				return err
			}
			fmt.Fprintf(cfg.Stdout, "Rotated the vault's key.\nOld DID: %s\nNew DID: %s\n", r.Old, r.New)
			fmt.Fprintf(cfg.Stdout, "Logged as entry %d (did.rotated); %d dataset key(s) sealed anew.\n", r.Index, r.Datasets)
			fmt.Fprintln(cfg.Stdout, "Restart `trove serve` if it runs: it still holds the old key and refuses to sign.")
			return nil
		},
	}
	c.AddCommand(show, rotate)
	return c
}
