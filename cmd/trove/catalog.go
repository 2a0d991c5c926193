package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/api"
)

// catalogCmd shows what a vault offers, through the generated client, and
// checks that its DID document names the same DID.
func catalogCmd(cfg *Config) *cobra.Command {
	var vaultURL string
	c := &cobra.Command{
		Use:   "catalog --vault URL",
		Short: "Show what a vault offers: datasets, schemas, algorithms, standing rules",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
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
			doc, err := client.GetDIDDocumentWithResponse(ctx)
			if err := api.Check(doc, err); err != nil {
				return err
			}
			if doc.JSON200 == nil || (doc.JSON200.Id != cat.JSON200.Vault && (doc.JSON200.AlsoKnownAs == nil || !slices.Contains(*doc.JSON200.AlsoKnownAs, cat.JSON200.Vault))) {
				return &trove.Error{Code: trove.EFORBIDDEN, Reason: "did_mismatch", Message: "the vault's DID document does not name the DID its catalog gives"}
			}
			out := cfg.Stdout
			fmt.Fprintf(out, "Vault %s (DID document %s)\n", cat.JSON200.Vault, doc.JSON200.Id)
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
	c.MarkFlagRequired("vault")
	return c
}
