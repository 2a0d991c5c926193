package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/ledger"
	"github.com/trove-project/trove/vault"
)

func claimsCmd(cfg *Config) *cobra.Command {
	c := &cobra.Command{Use: "claims", Short: "Compensation claims: what requesters owe you; acknowledge, dispute or settle claims on you"}
	list := &cobra.Command{
		Use: "list", Short: "List claims with totals owed, acknowledged, disputed, provisional and settled per requester and currency", Args: cobra.NoArgs,
		RunE: withVault(cfg, func(cmd *cobra.Command, _ []string, v *vault.Vault) error {
			cs, err := v.Claims(cmd.Context())
			if err != nil {
				return err
			}
			if len(cs) == 0 {
				fmt.Fprintln(cfg.Stdout, "No claims yet.")
				return nil
			}
			w := tabwriter.NewWriter(cfg.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "CLAIM\tSTATE\tAMOUNT\tJOB\tCREATED\tREQUESTER")
			for _, c := range cs {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.Standing(), money(c.Owed(), c.Currency), c.JobID, c.CreatedAt.Format(time.DateTime), c.Requester)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			fmt.Fprintln(cfg.Stdout, "\nTotals, per requester and currency:")
			w = tabwriter.NewWriter(cfg.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "  REQUESTER\tCURRENCY\tOWED\tACKNOWLEDGED\tDISPUTED\tPROVISIONAL\tSETTLED")
			for _, t := range claimTotals(cs) {
				fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.requester, t.currency,
					money(t.owed, t.currency), money(t.acked, t.currency), money(t.disputed, t.currency),
					money(t.provisional, t.currency), money(t.settled, t.currency))
			}
			if err := w.Flush(); err != nil {
				return err
			}
			for _, c := range cs {
				if c.Provisional() {
					fmt.Fprintln(cfg.Stdout, "\nProvisional: a training round's price, until the requester settles it with the round's Contribution credential (your share of the round's pay).")
					break
				}
			}
			return nil
		}),
	}
	show := &cobra.Command{
		Use: "show ID", Short: "Show a claim with the vault's signed statement and the requester's answer", Args: cobra.ExactArgs(1),
		RunE: withVault(cfg, func(cmd *cobra.Command, args []string, v *vault.Vault) error {
			c, err := v.Claim(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cfg.Stdout, "Claim %s: %s\n  amount     %s (%d × per %s)\n  requester  %s\n  job        %s\n  receipt    %s\n  consent    %s\n  created    %s\n  signed     %s\n",
				c.ID, c.Standing(), money(c.Amount, c.Currency), c.Quantity, c.Per, c.Requester, c.JobID, c.ReceiptID, c.ConsentID, c.CreatedAt.Format(time.RFC3339), c.Token)
			if c.Share != "" {
				fmt.Fprintf(cfg.Stdout, "  share rule %s: the amount is the round's price, provisional until the requester settles the claim\n", c.Share)
			}
			if c.Settled != nil {
				fmt.Fprintf(cfg.Stdout, "  settled    %s (your share of the round, by the Contribution credential)\n  credential %s\n", money(*c.Settled, c.Currency), c.Contribution)
			}
			if c.Response != "" {
				fmt.Fprintf(cfg.Stdout, "  answered   %s\n  answer     %s\n", c.RespondedAt.Format(time.RFC3339), c.Response)
			}
			if c.Reason != "" {
				fmt.Fprintf(cfg.Stdout, "  reason     %q\n", c.Reason)
			}
			return nil
		}),
	}
	var asCSV bool
	export := &cobra.Command{
		Use: "export --csv", Short: "Export every claim as CSV (amounts in minor units)", Args: cobra.NoArgs,
		RunE: withVault(cfg, func(cmd *cobra.Command, _ []string, v *vault.Vault) error {
			if !asCSV {
				return usageError("only --csv is supported")
			}
			cs, err := v.Claims(cmd.Context())
			if err != nil {
				return err
			}
			return writeClaimsCSV(cfg.Stdout, cs)
		}),
	}
	export.Flags().BoolVar(&asCSV, "csv", false, "write CSV")

	var vaultURL, reason, contributionFile string
	ack := &cobra.Command{
		Use:   "ack ID --vault URL",
		Short: "Requester: verify a claim on you, its receipt and amount, then send the vault your signed acknowledgement",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return answerClaim(cmd, cfg, vaultURL, args[0], ledger.Acknowledge, "")
		},
	}
	dispute := &cobra.Command{
		Use:   "dispute ID --vault URL --reason TEXT",
		Short: "Requester: send the vault your signed dispute of a claim, with a reason",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if reason == "" {
				return usageError("--reason is required")
			}
			return answerClaim(cmd, cfg, vaultURL, args[0], ledger.Dispute, reason)
		},
	}
	settle := &cobra.Command{
		Use:   "settle ID --vault URL --contribution FILE",
		Short: "Requester: settle a training round's claim with the round's Contribution credential you issued",
		Long: `Settle a claim made under the contribution share rule: the claim names the
round's price provisionally; the Contribution credential (a VC-JWT that trove
train issues each vault per round, kept in its --out directory under
contributions/) says what the round pays this vault. The claim, its receipt
and the credential are checked, then the vault receives your signed
settlement carrying the credential, checks it in turn and logs it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tok, err := readContribution(contributionFile)
			if err != nil {
				return err
			}
			r, client, err := openRequesterAt(cfg, vaultURL)
			if err != nil {
				return err
			}
			fmt.Fprintln(cfg.Stderr, "Verifying the claim, its receipt and the Contribution credential…")
			cl, err := r.SettleClaim(cmd.Context(), client, args[0], tok)
			if err != nil {
				return err
			}
			fmt.Fprintf(cfg.Stdout, "Claim %s (provisional %s) is now %s at %s; the vault logged your signed settlement.\n",
				cl.ID, money(cl.Amount, cl.Currency), cl.State, money(cl.Owed(), cl.Currency))
			return nil
		},
	}
	for _, sub := range []*cobra.Command{ack, dispute, settle} {
		sub.Flags().StringVar(&vaultURL, "vault", "", "the vault's API URL (required)")
		sub.MarkFlagRequired("vault")
	}
	dispute.Flags().StringVar(&reason, "reason", "", "why you dispute the claim (required; sent to the vault, not logged)")
	settle.Flags().StringVar(&contributionFile, "contribution", "", "a file holding the round's Contribution credential for this vault (required)")
	settle.MarkFlagRequired("contribution")
	c.AddCommand(list, show, export, ack, dispute, settle)
	return c
}

// readContribution reads a Contribution credential from a file: one
// compact JWS, at most ledger.MaxContributionLen bytes.
func readContribution(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", usageError("--contribution: %v", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, ledger.MaxContributionLen+64))
	if err != nil {
		return "", usageError("--contribution: %v", err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) > ledger.MaxContributionLen || strings.Count(tok, ".") != 2 || strings.ContainsAny(tok, " \t\r\n") {
		return "", usageError("--contribution: %s does not hold one Contribution credential (a compact JWS of at most %d bytes)", path, ledger.MaxContributionLen)
	}
	return tok, nil
}

// answerClaim acknowledges or disputes a claim as the requester.
func answerClaim(cmd *cobra.Command, cfg *Config, vaultURL, id, action, reason string) error {
	r, client, err := openRequesterAt(cfg, vaultURL)
	if err != nil {
		return err
	}
	var c *ledger.Claim
	if action == ledger.Acknowledge {
		fmt.Fprintln(cfg.Stderr, "Verifying the claim, its receipt and its amount…")
		c, err = r.AcknowledgeClaim(cmd.Context(), client, id)
	} else {
		c, err = r.DisputeClaim(cmd.Context(), client, id, reason)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(cfg.Stdout, "Claim %s (%s) is now %s; the vault logged your signed answer.\n", c.ID, money(c.Amount, c.Currency), c.State)
	return nil
}

// claimTotal sums claims of one requester in one currency, by state:
// owed (at a firm amount, not yet answered), acknowledged, disputed,
// provisional (a share-rule claim's round price, not yet settled) and
// settled (at the settled amounts).
type claimTotal struct {
	requester, currency                         string
	owed, acked, disputed, provisional, settled int64
}

// claimTotals sums claims per requester and currency, in order of first
// appearance. It refuses nothing: amounts are non-negative int64 and a
// sum that would overflow saturates, visibly absurd rather than wrapped.
func claimTotals(cs []ledger.Claim) []claimTotal {
	type key struct{ who, cur string }
	idx := map[key]int{}
	var out []claimTotal
	add := func(sum *int64, n int64) {
		if *sum > (1<<63-1)-n {
			*sum = 1<<63 - 1
			return
		}
		*sum += n
	}
	for _, c := range cs {
		k := key{c.Requester, c.Currency}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, claimTotal{requester: c.Requester, currency: c.Currency})
		}
		switch {
		case c.State == ledger.ClaimStateAcknowledged:
			add(&out[i].acked, c.Amount)
		case c.State == ledger.ClaimStateDisputed:
			add(&out[i].disputed, c.Amount)
		case c.State == ledger.ClaimStateSettled:
			add(&out[i].settled, c.Owed())
		case c.Provisional():
			add(&out[i].provisional, c.Amount)
		default:
			add(&out[i].owed, c.Amount)
		}
	}
	return out
}

// writeClaimsCSV writes claims as CSV with a header; amounts in integer
// minor units (amount_minor is a share-rule claim's provisional price,
// settled_minor what it settled at), times in RFC 3339.
func writeClaimsCSV(w io.Writer, cs []ledger.Claim) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"id", "state", "amount_minor", "currency", "per", "quantity", "requester", "consent_id", "job_id", "receipt_id",
		"created_at", "responded_at", "reason", "share", "settled_minor"}); err != nil {
		return err
	}
	for _, c := range cs {
		responded := ""
		if c.RespondedAt != nil {
			responded = c.RespondedAt.Format(time.RFC3339)
		}
		settled := ""
		if c.Settled != nil {
			settled = strconv.FormatInt(*c.Settled, 10)
		}
		if err := cw.Write([]string{c.ID, c.Standing(), strconv.FormatInt(c.Amount, 10), c.Currency, c.Per, strconv.FormatUint(c.Quantity, 10),
			c.Requester, c.ConsentID, c.JobID, c.ReceiptID, c.CreatedAt.Format(time.RFC3339), responded, csvSafe(c.Reason), c.Share, settled}); err != nil {
			return err
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return trove.Errorf(trove.EINTERNAL, "write CSV: %v", err)
	}
	return nil
}

// csvSafe defuses a requester-written cell that a spreadsheet would take
// for a formula.
func csvSafe(s string) string {
	if s != "" && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@') {
		return "'" + s
	}
	return s
}
