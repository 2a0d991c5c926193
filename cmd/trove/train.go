package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/api"
	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/dataset"
	"github.com/trove-project/trove/federated"
	"github.com/trove-project/trove/internal/safefile"
)

// trainConsents is DIR/consents.json: the consent request sent to each
// vault, so a rerun (or a restart) follows it instead of asking again.
type trainConsents map[string]string // vault URL → request id

func trainCmd(cfg *Config) *cobra.Command {
	var (
		vaultsFlag, datasetName, label, aggregator, out, testFile, currency string
		classes, rounds, epochs, quorum                                     int
		dpEpsilon, lr                                                       float64
		price                                                               int64
		consentTimeout, roundTimeout                                        time.Duration
		det                                                                 detectorFlags
	)
	c := &cobra.Command{
		Use:   "train",
		Short: "Train a model across vaults (federated logistic regression)",
		Long: `Train logistic regression across vaults without pooling their data: each
vault trains locally with builtin:logreg-train@1 under a consent whose purpose
is model training, one run per round, and returns a weight update with a
receipt; the coordinator (this requester) flags anomalous updates, aggregates
the rest, and pays each round's pool by contribution.

Consents are asked for at --price per round under the contribution share rule:
each round's claim at a vault names that price provisionally; each round's
pool is the price times the updates received, shared by contribution (an
update flagged as anomalous earns nothing). Right after each round the
coordinator issues every vault whose receipt verified a Contribution
credential and settles the vault's claim with it; settlements that fail are
retried when the command is run again with the same --out.

Where this requester holds no consent for a vault it asks for one (one run per
round plus one for the feature means), then waits for the owner to approve
it (trove consent approve ID), up to --consent-timeout.

--out DIR receives: model.json, rounds.json (the per-round report, also the
round file a rerun resumes from), plot.svg (accuracy and participation),
receipts/ (every receipt), contributions/ (every Contribution credential,
round-NNNN-vault-NNN.jwt; round 0 is the feature moments), consents.json. With --test FILE.csv each round's
model is scored on that labelled file. --dp-epsilon E asks each vault for
consent under the dp output policy, each round spending an equal share of E
(in zCDP's ρ, δ 1e-5) on DP-SGD that protects each of its rows (one
full-batch step per round at learning rate 0.5 unless --epochs and
--learning-rate say otherwise; the vaults' feature moments have no private
form, so features are standardised by the --test file's rows when one is
given, and not at all otherwise), and takes only updates released under dp from vaults
whose spent budget is at most E; each owner's dataset needs a DP budget
(trove data privacy).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			agg, err := federated.ParseAggregator(aggregator)
			if err != nil {
				return usageError("%v", err)
			}
			epochs, lr = dpTrainingDefaults(cmd, dpEpsilon, epochs, lr)
			detector, err := det.detector()
			if err != nil {
				return err
			}
			urls := strings.Split(vaultsFlag, ",")
			if vaultsFlag == "" || len(urls) > federated.MaxParticipants {
				return usageError("--vaults: give 1..%d comma-separated vault URLs", federated.MaxParticipants)
			}
			if !(dpEpsilon >= 0) || rounds < 1 || rounds > federated.MaxRounds {
				return usageError("--rounds must be in 1..%d and --dp-epsilon not negative", federated.MaxRounds)
			}
			roundEps := 0.0
			if dpEpsilon > 0 {
				roundEps = federated.RoundEpsilon(dpEpsilon, federated.DefaultDelta, rounds)
			}
			var test *dataset.Table
			if testFile != "" {
				b, err := os.ReadFile(testFile)
				if err != nil {
					return usageError("read --test: %v", err)
				}
				if test, err = dataset.ReadCSV(bytes.NewReader(b), dataset.ReadOptions{}); err != nil {
					return usageError("read --test: %v", err)
				}
			}
			for _, sub := range []string{"receipts", "contributions"} {
				if err := os.MkdirAll(filepath.Join(out, sub), 0o700); err != nil {
					return err
				}
			}
			r, err := openRequester(cfg)
			if err != nil {
				return err
			}
			consentsFile := filepath.Join(out, "consents.json")
			asked := trainConsents{}
			if b, err := os.ReadFile(consentsFile); err == nil {
				if err := json.Unmarshal(b, &asked); err != nil {
					return trove.Errorf(trove.EINVALID, "%s does not parse: %v", consentsFile, err)
				}
			} else if !errors.Is(err, os.ErrNotExist) {
				return err
			}
			// Every vault is reached before any is asked for consent: one
			// vault behind two URLs would train and be paid twice.
			clients := make([]*api.Client, len(urls))
			vaults := make([]string, len(urls))
			vaultIndex := map[string]int{} // vault DID → its place in --vaults
			for i, u := range urls {
				client, err := api.NewClient(strings.TrimSpace(u), nil)
				if err != nil {
					return usageError("--vaults: %v", err)
				}
				cat, err := client.Catalog(ctx)
				if err != nil {
					return fmt.Errorf("reach %s: %w", u, err)
				}
				if j, dup := vaultIndex[cat.Vault]; dup {
					return usageError("--vaults: %s and %s are the same vault (%s)", urls[j], u, cat.Vault)
				}
				clients[i], vaults[i], vaultIndex[cat.Vault] = client, cat.Vault, i
			}
			var parts []federated.Participant
			for i, u := range urls {
				client := clients[i]
				id, ok := asked[u]
				if !ok {
					st, err := r.RequestConsent(ctx, client, federated.TrainingAsk(datasetName, rounds, consent.Money{Amount: price, Currency: currency}, 30*24*time.Hour, roundEps, federated.DefaultDelta))
					if err != nil {
						return fmt.Errorf("ask %s for consent: %w", u, err)
					}
					id = st.ID
					asked[u] = id
					b, _ := json.MarshalIndent(asked, "", "  ")
					if err := safefile.Write(consentsFile, append(b, '\n'), 0o600); err != nil {
						return err
					}
				}
				told := false
				cred, err := federated.AwaitConsent(ctx, r, client, id, consentTimeout, time.Second, func() {
					if !told {
						fmt.Fprintf(cfg.Stderr, "waiting for the owner of %s to approve consent request %s (trove consent approve %s)…\n", u, id, id)
						told = true
					}
				})
				if err != nil {
					return fmt.Errorf("consent of %s: %w", u, err)
				}
				if err := checkTrainingTerms(cred, consent.Money{Amount: price, Currency: currency}); err != nil {
					return fmt.Errorf("consent of %s: %w", u, err)
				}
				parts = append(parts, &federated.VaultParticipant{Requester: r, Client: client, Vault: vaults[i], Credential: cred})
			}
			tc := federated.Config{Target: label, Classes: classes, Rounds: rounds, Epochs: epochs, LearningRate: lr,
				Aggregator: agg, Detector: detector, Quorum: quorum, Timeout: roundTimeout, Test: test,
				Standardise: dpEpsilon == 0, MaxEpsilon: dpEpsilon, Price: consent.Money{Amount: price, Currency: currency},
				RoundFile: filepath.Join(out, "rounds.json"), Training: "train " + filepath.Base(out),
				// Each credential is also kept as a file, for trove claims settle.
				Contribution: func(c consent.Contribution) (string, error) {
					tok, err := r.IssueContribution(c)
					if err != nil {
						return "", err
					}
					name := fmt.Sprintf("round-%04d-vault-%03d.jwt", c.Round, vaultIndex[c.Subject])
					return tok, safefile.Write(filepath.Join(out, "contributions", name), []byte(tok+"\n"), 0o600)
				},
				KeepReceipt: func(round, i int, receipt json.RawMessage) error {
					return safefile.Write(filepath.Join(out, "receipts", fmt.Sprintf("round-%04d-vault-%03d.json", round, i)), receipt, 0o600)
				},
				Progress: func(rr federated.RoundReport) {
					acc := ""
					if rr.Accuracy != nil {
						acc = fmt.Sprintf("  test accuracy %.4f", *rr.Accuracy)
					}
					flagged, toSettle, settled := 0, 0, 0
					skipped := map[string]int{}
					for _, p := range rr.Participants {
						switch p.Status {
						case federated.StatusFlagged:
							flagged++
						case federated.StatusSkipped:
							skipped[p.Reason]++
						}
						if p.ClaimID != "" {
							toSettle++
							if p.Settled {
								settled++
							}
						}
					}
					why := ""
					for _, reason := range slices.Sorted(maps.Keys(skipped)) {
						why += fmt.Sprintf("; skipped %d: %s", skipped[reason], reason)
					}
					fmt.Fprintf(cfg.Stderr, "round %d/%d: %d of %d vaults answered, %d aggregated, %d flagged, %d of %d claims settled%s (%.1fs)%s\n",
						rr.Round, rounds, rr.Updates, len(urls), rr.Aggregated, flagged, settled, toSettle, acc, rr.Seconds, why)
				}}
			if dpEpsilon > 0 {
				if test != nil {
					if tc.Center, tc.Scale, tc.Features, err = federated.HeldOutMoments(ctx, test, label, classes); err != nil {
						return usageError("standardise by --test: %v", err)
					}
				} else {
					fmt.Fprintln(cfg.Stderr, "Features are not standardised under --dp-epsilon without --test (the vaults' moments have no private form); give --test FILE.csv to standardise by its rows.")
				}
			}
			co, err := federated.NewCoordinator(tc, parts)
			if err != nil {
				return err
			}
			st, err := co.Run(ctx)
			if st != nil {
				if werr := writeTraining(out, st); werr != nil && err == nil {
					err = werr
				}
			}
			if err != nil {
				return err
			}
			if st.Model.Weights == nil {
				return trove.Errorf(trove.EUNAVAILABLE, "no round reached a quorum: there is no model (see %s)", filepath.Join(out, "rounds.json"))
			}
			fmt.Fprintf(cfg.Stdout, "trained %d rounds over %d vaults; model, report, plot and receipts in %s\n", len(st.Rounds), len(parts), out)
			printTrainSummary(cfg, st, urls)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&vaultsFlag, "vaults", "", "comma-separated vault URLs (required)")
	f.StringVar(&datasetName, "dataset", "", "the dataset name at every vault (required)")
	f.StringVar(&label, "label", "", "the label column (required)")
	f.IntVar(&classes, "classes", 0, "for an integer label: the number of classes (0 for a categorical label)")
	f.IntVar(&rounds, "rounds", 10, "training rounds")
	f.IntVar(&epochs, "epochs", 5, "local epochs per round (under --dp-epsilon default 1: full-batch DP-SGD steps)")
	f.Float64Var(&lr, "learning-rate", 0.1, "local SGD learning rate (under --dp-epsilon default 0.5)")
	f.StringVar(&aggregator, "aggregator", "fedavg", "fedavg, median, trimmed:F or krum:F")
	f.IntVar(&quorum, "quorum", 0, "fewest updates a round needs (default: a majority of the vaults)")
	f.DurationVar(&roundTimeout, "timeout", 2*time.Minute, "how long each vault has per round")
	f.DurationVar(&consentTimeout, "consent-timeout", 10*time.Minute, "how long to wait for owners to approve")
	f.Float64Var(&dpEpsilon, "dp-epsilon", 0, "take only DP updates from vaults that spent at most this ε")
	f.Int64Var(&price, "price", 10, "price per round per vault, in minor units (each round's pool is this times the updates received, shared by contribution)")
	f.StringVar(&currency, "currency", "EUR", "the price's currency")
	f.StringVar(&testFile, "test", "", "a labelled CSV file to score each round's model on")
	f.StringVar(&out, "out", "", "output directory (required)")
	det.add(c)
	for _, name := range []string{"vaults", "dataset", "label", "out"} {
		_ = c.MarkFlagRequired(name)
	}
	return c
}

// writeTraining writes the model and the plot (the round file holds the
// report).
func writeTraining(out string, st *federated.State) error {
	plot := federated.PlotSVG(st, fmt.Sprintf("federated training: %d vaults, %s", len(st.Vaults), st.Aggregator))
	if err := safefile.Write(filepath.Join(out, "plot.svg"), plot, 0o644); err != nil {
		return err
	}
	if st.Model.Weights == nil {
		return nil // no model yet
	}
	b, err := json.MarshalIndent(st.Model, "", "  ")
	if err != nil {
		return err
	}
	return safefile.Write(filepath.Join(out, "model.json"), append(b, '\n'), 0o644)
}

// checkTrainingTerms refuses a consent credential whose price is not the
// training's price per round under the contribution share rule: each
// round's pool is the one price times the updates, which every vault's
// claim must divide.
func checkTrainingTerms(credential string, price consent.Money) error {
	c, err := consent.VerifyCredential(credential, time.Now())
	if err != nil {
		return &trove.Error{Code: trove.EFORBIDDEN, Message: "the consent credential does not verify", Err: err}
	}
	t := c.Terms
	if t.Price != price || t.Per != consent.PerRound || t.Share != consent.ShareContribution {
		return trove.Errorf(trove.ECONFLICT, "the consent pays %s per %s (share rule %q), not %s per round shared by contribution; train with that --price and --currency or another --out",
			money(t.Price.Amount, t.Price.Currency), t.Per, t.Share, money(price.Amount, price.Currency))
	}
	return nil
}

// printTrainSummary prints, per vault, its rounds used, flagged and
// skipped, what it was paid (the feature moments included), how many of
// its claims are not settled yet, and the ε its dataset spent.
func printTrainSummary(cfg *Config, st *federated.State, urls []string) {
	type sum struct {
		used, flagged, skipped, unsettled int
		paid                              int64
		eps                               float64
	}
	sums := make([]sum, len(st.Vaults))
	for _, p := range st.Moments {
		sums[p.Index].paid += p.Payout
		if p.ClaimID != "" && !p.Settled {
			sums[p.Index].unsettled++
		}
	}
	for _, r := range st.Rounds {
		for _, p := range r.Participants {
			s := &sums[p.Index]
			switch p.Status {
			case federated.StatusUsed:
				s.used++
			case federated.StatusFlagged:
				s.flagged++
			default:
				s.skipped++
			}
			s.paid += p.Payout
			s.eps = max(s.eps, p.SpentEps)
			if p.ClaimID != "" && !p.Settled {
				s.unsettled++
			}
		}
	}
	fmt.Fprintf(cfg.Stdout, "%-40s %5s %8s %8s %10s %9s %8s\n", "vault", "used", "flagged", "skipped", "paid", "unsettled", "epsilon")
	unsettled := 0
	for i, s := range sums {
		fmt.Fprintf(cfg.Stdout, "%-40s %5d %8d %8d %10d %9d %8.3g\n", urls[i], s.used, s.flagged, s.skipped, s.paid, s.unsettled, s.eps)
		unsettled += s.unsettled
	}
	if unsettled > 0 {
		fmt.Fprintf(cfg.Stdout, "%d claims are not settled yet (see settle_error in rounds.json): run the same command again to retry,\n"+
			"or settle one with trove claims settle CLAIM --vault URL --contribution contributions/round-NNNN-vault-NNN.jwt\n", unsettled)
	}
}
