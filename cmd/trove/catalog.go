package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/api"
	"github.com/trove-project/trove/requester"
)

// catalogCmd shows what a vault offers, through the generated client, and
// checks that its did:web document, if it has one, names the same DID.
func catalogCmd(cfg *Config) *cobra.Command {
	var vaultURL, vaultDID string
	c := &cobra.Command{
		Use:   "catalog --vault URL",
		Short: "Show what a vault offers: datasets, schemas, algorithms, standing rules",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if vaultDID != "" {
				if err := requester.CheckWebDID(vaultDID); err != nil {
					return fmt.Errorf("--vault-did: %w", err)
				}
			}
			client, err := api.NewGenerated(vaultURL, nil)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			cat, err := client.GetCatalogWithResponse(ctx)
			if err := api.Check(cat, err); err != nil {
				return err
			}
			if cat.JSON200 == nil {
				return trove.Errorf(trove.EUNAVAILABLE, "the vault's catalog is not JSON")
			}
			// A vault with a domain is did:web, whose document must name the
			// catalog's did:key; a did:key vault has no document (404).
			docID := "none (did:key)"
			doc, err := client.GetDIDDocumentWithResponse(ctx)
			if err := api.Check(doc, err); err != nil && trove.ErrorCode(err) != trove.ENOTFOUND {
				return err
			} else if err == nil {
				d := doc.ApplicationdidJSON200
				if d == nil || d.Id != cat.JSON200.Vault && (d.AlsoKnownAs == nil || !slices.Contains(*d.AlsoKnownAs, cat.JSON200.Vault)) {
					return &trove.Error{Code: trove.EFORBIDDEN, Reason: "did_mismatch", Message: "the vault's DID document does not name the DID its catalog gives"}
				}
				docID = d.Id
			}
			// --vault-did: the did:web, resolved by its own domain over
			// HTTPS, must vouch for the catalog's did:key.
			if vaultDID != "" {
				// The client follows a key rotation, if the did:key
				// differs from the one verified before for this did:web.
				r, vc, err := openRequesterAt(cfg, vaultURL)
				if err != nil {
					return err
				}
				if _, err := r.BindWeb(ctx, vc, vaultDID, cat.JSON200.Vault); err != nil {
					return err
				}
			}
			out := cfg.Stdout
			fmt.Fprintf(out, "Vault %s (DID document %s)\n", cat.JSON200.Vault, docID)
			if vaultDID != "" {
				fmt.Fprintf(out, "Verified as %s: its DID document names this did:key first and lists its key for assertions.\n", vaultDID)
			}
			fmt.Fprintln(out, "Datasets:")
			if len(cat.JSON200.Datasets) == 0 {
				fmt.Fprintln(out, "  none")
			}
			for _, d := range cat.JSON200.Datasets {
				cols := make([]string, len(d.Schema))
				for i, f := range d.Schema {
					cols[i] = f.Name + " " + string(f.Kind)
				}
				fmt.Fprintf(out, "  %s  %s rows  %s\n    %s\n", d.Name, d.Rows, d.Digest, strings.Join(cols, ", "))
			}
			fmt.Fprintf(out, "Algorithms: %s\n", strings.Join(cat.JSON200.Algorithms, ", "))
			if p := cat.JSON200.Policy; p != nil {
				fmt.Fprintf(out, "Standing rules (%s):\n", p.Hash)
				for _, r := range p.Summary {
					fmt.Fprintf(out, "  - %s\n", r)
				}
			}
			return nil
		},
	}
	c.Flags().StringVar(&vaultURL, "vault", "", "the vault's API URL (required)")
	c.Flags().StringVar(&vaultDID, "vault-did", "", "the did:web the vault must be (did:web:HOST), verified over HTTPS against its catalog's did:key; needs the requester home")
	c.MarkFlagRequired("vault")
	return c
}
