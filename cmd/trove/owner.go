package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/dataset"
	"github.com/trove-project/trove/ledger"
	"github.com/trove-project/trove/vault"
)

func initCmd(cfg *Config) *cobra.Command {
	return &cobra.Command{
		Use:   "init",
		Short: "Create a new vault: your DID, your sealed key, an empty database",
		Long: `Create a new vault in the home directory (--home, $TROVE_HOME, default ~/.trove).

Your vault gets an Ed25519 key published as a did:key: that DID is your
identity towards requesters. The private key is sealed under your passphrase
($TROVE_PASSPHRASE, or asked) with scrypt; lose the passphrase and the vault
cannot be opened. An existing vault is never overwritten.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if vault.Exists(cfg.Home) {
				return trove.Errorf(trove.ECONFLICT, "a vault already exists in %s; refusing to overwrite it", cfg.Home)
			}
			pass, err := cfg.passphrase("New passphrase for the vault", true)
			if err != nil {
				return usageError("%v", err)
			}
			v, err := vault.Create(cmd.Context(), vault.Config{Home: cfg.Home, WorkFactor: cfg.WorkFactor, PublicURL: cfg.PublicURL}, pass)
			if err != nil {
				return err
			}
			defer v.Close()
			fmt.Fprintf(cfg.Stdout, "Created a vault in %s\nYour DID: %s\n", cfg.Home, v.DID())
			return nil
		},
	}
}

func dataCmd(cfg *Config) *cobra.Command {
	c := &cobra.Command{Use: "data", Short: "Import, list and remove datasets; set their output policy and privacy budget"}
	var types []string
	imp := &cobra.Command{
		Use:   "import NAME FILE.csv",
		Short: "Import a CSV file (with a header row) as an encrypted dataset",
		Long: `Import a CSV file with a header row. Column kinds are inferred (integer,
float, timestamp, categorical); --type col=kind overrides. The values are
stored in encrypted column chunks; the printed digest (a Merkle root over the
chunks) is what consents name. A malformed file is refused whole, with the
line and column of the problem.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			overrides, err := parseTypes(types)
			if err != nil {
				return err
			}
			f, err := os.Open(args[1])
			if err != nil {
				return trove.Errorf(trove.EINVALID, "open %s: %v", args[1], err)
			}
			defer f.Close()
			st, err := f.Stat()
			if err != nil {
				return err
			}
			v, err := openVault(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer v.Close()
			bar := progressbar.NewOptions64(st.Size(),
				progressbar.OptionSetWriter(cfg.Stderr), progressbar.OptionShowBytes(true),
				progressbar.OptionSetDescription("reading "+args[1]), progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionClearOnFinish())
			d, err := v.Import(cmd.Context(), args[0], f, vault.ImportOptions{Types: overrides, Progress: func(n int64) { bar.Set64(n) }})
			bar.Finish()
			if err != nil {
				return err
			}
			fmt.Fprintf(cfg.Stdout, "Imported %s: %d rows, %d columns\ndigest %s\n", d.Name, d.Rows, len(d.Schema), d.Digest)
			return nil
		},
	}
	imp.Flags().StringArrayVar(&types, "type", nil, "column kind override, col=kind (float, integer, categorical, timestamp); repeatable")
	list := &cobra.Command{
		Use:   "list",
		Short: "List datasets with their digests",
		Args:  cobra.NoArgs,
		RunE: withVault(cfg, func(cmd *cobra.Command, _ []string, v *vault.Vault) error {
			ds, err := v.Datasets(cmd.Context())
			if err != nil {
				return err
			}
			if len(ds) == 0 {
				fmt.Fprintln(cfg.Stdout, "No datasets yet: trove data import NAME FILE.csv")
				return nil
			}
			w := tabwriter.NewWriter(cfg.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tROWS\tCOLUMNS\tIMPORTED\tPOLICY\tDP SPENT/BUDGET (ε)\tDP LEFT (ε)\tDIGEST")
			for _, d := range ds {
				p, err := v.Privacy(cmd.Context(), d.Name)
				if err != nil {
					return err
				}
				fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s\t%.3g/%g\t%.3g\t%s\n", d.Name, d.Rows, len(d.Schema), d.CreatedAt.Format(time.DateTime),
					p.Minimum.Kind, p.SpentEpsilon, p.BudgetEpsilon, p.LeftEpsilon, d.Digest)
			}
			return w.Flush()
		}),
	}
	rm := &cobra.Command{
		Use:   "rm NAME",
		Short: "Remove a dataset (consents for it stop working; the removal is logged)",
		Args:  cobra.ExactArgs(1),
		RunE: withVault(cfg, func(cmd *cobra.Command, args []string, v *vault.Vault) error {
			if err := v.RemoveDataset(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cfg.Stdout, "Removed %s\n", args[0])
			return nil
		}),
	}
	c.AddCommand(imp, list, rm, privacyCmd(cfg))
	return c
}

// parseTypes reads --type col=kind flags.
func parseTypes(flags []string) (map[string]dataset.Kind, error) {
	if len(flags) == 0 {
		return nil, nil
	}
	out := make(map[string]dataset.Kind, len(flags))
	for _, f := range flags {
		col, kind, ok := strings.Cut(f, "=")
		if !ok || col == "" {
			return nil, usageError("--type %q: want col=kind", f)
		}
		k, err := dataset.ParseKind(kind)
		if err != nil {
			return nil, usageError("--type %q: %v", f, err)
		}
		out[col] = k
	}
	return out, nil
}

func consentCmd(cfg *Config) *cobra.Command {
	c := &cobra.Command{Use: "consent", Short: "Review consent requests; approve, deny or counter them; revoke consents"}
	var all bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List consent requests (pending ones unless --all) and issued consents",
		Args:  cobra.NoArgs,
		RunE: withVault(cfg, func(cmd *cobra.Command, _ []string, v *vault.Vault) error {
			state := vault.Pending
			if all {
				state = ""
			}
			rs, err := v.ConsentRequests(cmd.Context(), state)
			if err != nil {
				return err
			}
			if len(rs) == 0 {
				fmt.Fprintln(cfg.Stdout, "No consent requests.")
			} else {
				w := tabwriter.NewWriter(cfg.Stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "REQUEST\tSTATE\tDATASET\tALGORITHM\tRUNS\tPRICE/RUN\tUNTIL\tREQUESTER")
				for _, r := range rs {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", r.ID, r.State, r.Dataset, shortAlg(r.Algorithm), r.MaxRuns,
						money(r.Price.Amount, r.Price.Currency), r.ExpiresAt.Format(time.DateOnly), r.Requester)
				}
				if err := w.Flush(); err != nil {
					return err
				}
			}
			cs, err := v.Consents(cmd.Context())
			if err != nil || len(cs) == 0 {
				return err
			}
			fmt.Fprintln(cfg.Stdout, "\nIssued consents:")
			w := tabwriter.NewWriter(cfg.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "CONSENT\tDATASET\tALGORITHM\tRUNS USED\tOUTPUT\tUNTIL\tSTATE\tREQUESTER")
			for _, c := range cs {
				state := "active"
				if c.RevokedAt != nil {
					state = "revoked"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%d/%d\t%s\t%s\t%s\t%s\n", c.ID, c.Dataset, shortAlg(c.Algorithm), c.RunsUsed, c.MaxRuns,
					outputPolicy(c.Output), c.ExpiresAt.Format(time.DateOnly), state, c.Requester)
			}
			return w.Flush()
		}),
	}
	list.Flags().BoolVar(&all, "all", false, "show decided requests too")
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show one consent request in full",
		Args:  cobra.ExactArgs(1),
		RunE: withVault(cfg, func(cmd *cobra.Command, args []string, v *vault.Vault) error {
			r, err := v.ConsentRequest(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			printRequest(cfg, r)
			return nil
		}),
	}
	decide := func(use, short string, fn func(*vault.Vault, *cobra.Command, string) (*vault.ConsentRequest, error)) *cobra.Command {
		return &cobra.Command{
			Use: use + " ID", Short: short, Args: cobra.ExactArgs(1),
			RunE: withVault(cfg, func(cmd *cobra.Command, args []string, v *vault.Vault) error {
				r, err := fn(v, cmd, args[0])
				if err != nil {
					return err
				}
				printRequest(cfg, r)
				return nil
			}),
		}
	}
	approve := decide("approve", "Approve a request: sign a Consent credential for its terms",
		func(v *vault.Vault, cmd *cobra.Command, id string) (*vault.ConsentRequest, error) {
			return v.Approve(cmd.Context(), id)
		})
	deny := decide("deny", "Deny a request",
		func(v *vault.Vault, cmd *cobra.Command, id string) (*vault.ConsentRequest, error) {
			return v.Deny(cmd.Context(), id)
		})
	var (
		cRuns            int
		cUntil           string
		cColumns         []string
		cOutput, cPrice  string
		cEpsilon, cDelta float64
	)
	counter := &cobra.Command{
		Use:   "counter ID",
		Short: "Answer a request with narrower terms; the requester accepts or declines",
		Long: `Answer a pending request with narrower terms, signed by you: fewer runs, an
earlier end, fewer columns, review or dp instead of release, a smaller ε or δ,
a higher price. The requester sees the offer and accepts (the credential is
then issued for exactly these terms) or declines. Each step is logged.`,
		Args: cobra.ExactArgs(1),
		RunE: withVault(cfg, func(cmd *cobra.Command, args []string, v *vault.Vault) error {
			n := vault.Narrowing{MaxRuns: cRuns, Columns: cColumns}
			if cUntil != "" {
				t, err := time.Parse(time.RFC3339, cUntil)
				if err != nil {
					return usageError("--until %q: want an RFC 3339 time such as 2026-12-31T00:00:00Z", cUntil)
				}
				n.ExpiresAt = t
			}
			if cOutput != "" {
				n.Output = &consent.OutputPolicy{Policy: cOutput, Epsilon: cEpsilon, Delta: cDelta}
			}
			if cPrice != "" {
				p, err := parsePrice(cPrice)
				if err != nil {
					return err
				}
				n.Price = p.Amount
			}
			r, err := v.Counter(cmd.Context(), args[0], n)
			if err != nil {
				return err
			}
			printRequest(cfg, r)
			return nil
		}),
	}
	counter.Flags().IntVar(&cRuns, "runs", 0, "fewer runs than asked")
	counter.Flags().StringVar(&cUntil, "until", "", "an earlier end (RFC 3339)")
	counter.Flags().StringSliceVar(&cColumns, "columns", nil, "only these of the columns asked for")
	counter.Flags().StringVar(&cOutput, "output", "", "review or dp instead of release")
	counter.Flags().Float64Var(&cEpsilon, "epsilon", 0, "with --output dp: ε at most what was asked")
	counter.Flags().Float64Var(&cDelta, "delta", 0, "with --output dp: δ at most what was asked")
	counter.Flags().StringVar(&cPrice, "price", "", "a higher price, same currency, like \"300 EUR\"")
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an issued consent: its status bit is set and its next job is refused",
		Args:  cobra.ExactArgs(1),
		RunE: withVault(cfg, func(cmd *cobra.Command, args []string, v *vault.Vault) error {
			c, err := v.Revoke(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cfg.Stdout, "Revoked consent %s (status list %s, index %d) at %s.\n",
				c.ID, vault.StatusListID, c.StatusIndex, c.RevokedAt.Format(time.RFC3339))
			return nil
		}),
	}
	c.AddCommand(list, show, approve, deny, counter, revoke)
	return c
}

func printRequest(cfg *Config, r *vault.ConsentRequest) {
	w := tabwriter.NewWriter(cfg.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "Request\t%s\n", r.ID)
	fmt.Fprintf(w, "State\t%s\n", r.State)
	fmt.Fprintf(w, "Requester\t%s\n", r.Requester)
	fmt.Fprintf(w, "Dataset\t%s\n", r.Dataset)
	fmt.Fprintf(w, "Algorithm\t%s\n", r.Algorithm)
	cols := "all"
	if len(r.Columns) > 0 {
		cols = strings.Join(r.Columns, ", ")
	}
	fmt.Fprintf(w, "Columns\t%s\n", cols)
	fmt.Fprintf(w, "Purpose\t%s (%s)\n", r.Purpose, r.PurposeCode)
	fmt.Fprintf(w, "Runs\t%d\n", r.MaxRuns)
	fmt.Fprintf(w, "Output\t%s\n", outputPolicy(r.Output))
	fmt.Fprintf(w, "Price\t%s per %s\n", money(r.Price.Amount, r.Price.Currency), r.Per)
	if r.Share != "" {
		fmt.Fprintf(w, "Share rule\t%s: %s\n", r.Share, consent.ShareWords(r.Share))
	}
	fmt.Fprintf(w, "Until\t%s\n", r.ExpiresAt.Format(time.RFC3339))
	if r.ConsentID != "" {
		fmt.Fprintf(w, "Consent\t%s\n", r.ConsentID)
	}
	if r.DecidedBy != "" {
		fmt.Fprintf(w, "Decided by\t%s\n", r.DecidedBy)
	}
	w.Flush()
}

// outputPolicy says an output policy in a few words.
func outputPolicy(o consent.OutputPolicy) string {
	if o.Policy == consent.OutputDP {
		return fmt.Sprintf("dp (ε=%g, δ=%g)", o.Epsilon, o.Delta)
	}
	return o.Policy
}

// money formats integer minor units as a decimal amount with two places.
func money(amount int64, currency string) string {
	sign := ""
	if amount < 0 {
		sign, amount = "-", -amount
	}
	return fmt.Sprintf("%s%d.%02d %s", sign, amount/100, amount%100, currency)
}

func shortAlg(a string) string {
	if len(a) == 64 && !strings.Contains(a, ":") {
		return "wasm:" + a[:12] + "…"
	}
	return a
}

func logCmd(cfg *Config) *cobra.Command {
	c := &cobra.Command{Use: "log", Short: "Inspect and verify the tamper-evident access log"}
	checkpoint := &cobra.Command{
		Use: "checkpoint", Short: "Print the latest signed checkpoint", Args: cobra.NoArgs,
		RunE: withVault(cfg, func(cmd *cobra.Command, _ []string, v *vault.Vault) error {
			note, err := v.Checkpoint(cmd.Context())
			if err != nil {
				return err
			}
			_, err = cfg.Stdout.Write(note)
			return err
		}),
	}
	verify := &cobra.Command{
		Use: "verify", Short: "Recompute the log's tree from its entries and check every checkpoint", Args: cobra.NoArgs,
		RunE: withVault(cfg, func(cmd *cobra.Command, _ []string, v *vault.Vault) error {
			n, err := v.VerifyLog(cmd.Context())
			if err != nil {
				return &trove.Error{Code: trove.EFORBIDDEN, Reason: "log_corrupt", Message: "the log does not verify", Err: err}
			}
			fmt.Fprintf(cfg.Stdout, "The log verifies: %d entries, every checkpoint matches.\n", n)
			return nil
		}),
	}
	proof := &cobra.Command{
		Use:   "proof INDEX",
		Short: "Print a log entry with its inclusion proof in the latest signed checkpoint (JSON)",
		Long: `Print the log entry at INDEX, the latest signed checkpoint and the Merkle
proof that the entry is in that checkpoint's tree, as one JSON document:
{"index", "entry" (base64 of the entry's exact bytes), "checkpoint" (the
signed note), "inclusion_proof" (base64 hashes)}. Anyone holding the vault's
DID can check it offline, with trove or with any RFC 6962 verifier.`,
		Args: cobra.ExactArgs(1),
		RunE: withVault(cfg, func(cmd *cobra.Command, args []string, v *vault.Vault) error {
			index, err := strconv.ParseUint(args[0], 10, 63)
			if err != nil {
				return usageError("INDEX must be a non-negative integer")
			}
			p, err := v.EntryProof(cmd.Context(), index)
			if err != nil {
				return err
			}
			b, err := json.MarshalIndent(p, "", "  ")
			if err != nil {
				return err
			}
			// Check what is printed, as its reader will.
			if _, _, err := ledger.VerifyEntryProof(b, v.DID()); err != nil {
				return &trove.Error{Code: trove.EFORBIDDEN, Reason: "log_corrupt", Message: "the log's own proof does not verify", Err: err}
			}
			_, err = fmt.Fprintf(cfg.Stdout, "%s\n", b)
			return err
		}),
	}
	c.AddCommand(checkpoint, verify, proof)
	return c
}
