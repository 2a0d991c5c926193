package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/trove-project/trove/dataset"
	"github.com/trove-project/trove/federated"
)

func simCmd(cfg *Config) *cobra.Command {
	var (
		data, label, splitSpec, aggregator, poison string
		vaults, rounds, epochs, classes            int
		dpEpsilon, lr                              float64
		seed                                       uint64
		asJSON                                     bool
		det                                        detectorFlags
	)
	c := &cobra.Command{
		Use:   "sim",
		Short: "Simulate federated training over N real vaults in this process",
		Long: `Start N real vaults in this process (each its own SQLite database, key and
HTTP server on 127.0.0.1), deal a CSV file's rows to them (a seeded 20%
stratified test set stays with the coordinator), train logistic regression
across them through the real API (consent, presentation, job, receipt), and
compare it with the same model trained on the pooled training rows.

--split: iid, dirichlet:ALPHA or one-class. --aggregator: fedavg, median,
trimmed:F or krum:F. --poison K:label-flip poisons K vaults' data;
K:scale:S makes K clients ask their vault for S-times larger steps;
K:noise makes K clients replace their update with noise (their vault's
receipt then names another output). --dp-epsilon E gives each vault a
lifetime budget of ε = E over the whole training (δ 1e-5), spent by DP-SGD
that protects each row (one full-batch step per round at learning rate 0.5
unless --epochs and --learning-rate say otherwise); features are then
standardised by the coordinator's test rows, and the centralized baseline is
reported without DP and as one vault holding every row under the same budget.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			agg, err := federated.ParseAggregator(aggregator)
			if err != nil {
				return usageError("%v", err)
			}
			epochs, lr = dpTrainingDefaults(cmd, dpEpsilon, epochs, lr)
			detector, err := det.detector()
			if err != nil {
				return err
			}
			var p federated.Poison
			if poison != "" {
				if p, err = federated.ParsePoison(poison); err != nil {
					return usageError("%v", err)
				}
			}
			b, err := os.ReadFile(data)
			if err != nil {
				return usageError("read --data: %v", err)
			}
			t, err := dataset.ReadCSV(bytes.NewReader(b), dataset.ReadOptions{})
			if err != nil {
				return usageError("read --data: %v", err)
			}
			dir, err := os.MkdirTemp("", "trove-sim-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			sc := federated.SimConfig{Data: t, Label: label, Classes: classes, Vaults: vaults, Split: splitSpec, Rounds: rounds,
				Poison: p, Seed: seed, Dir: dir, DPEpsilon: dpEpsilon,
				Training: federated.Config{Aggregator: agg, Detector: detector, Epochs: epochs, LearningRate: lr}}
			if !asJSON {
				sc.Training.Progress = func(r federated.RoundReport) {
					acc := "-"
					if r.Accuracy != nil {
						acc = fmt.Sprintf("%.4f", *r.Accuracy)
					}
					fmt.Fprintf(cfg.Stderr, "round %3d  updates %3d  aggregated %3d  accuracy %s  %.2fs\n", r.Round, r.Updates, r.Aggregated, acc, r.Seconds)
				}
			}
			res, err := federated.Simulate(cmd.Context(), sc)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cfg.Stdout)
				return enc.Encode(res)
			}
			printSim(cfg, res)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&data, "data", "", "the CSV file to deal out (required)")
	f.StringVar(&label, "label", "", "the label column (required)")
	f.IntVar(&classes, "classes", 0, "for an integer label: the number of classes (default: largest label + 1)")
	f.IntVar(&vaults, "vaults", 10, "number of vaults")
	f.StringVar(&splitSpec, "split", "iid", "iid, dirichlet:ALPHA or one-class")
	f.IntVar(&rounds, "rounds", 20, "training rounds")
	f.IntVar(&epochs, "epochs", 5, "local epochs per round (under --dp-epsilon default 1: full-batch DP-SGD steps)")
	f.Float64Var(&lr, "learning-rate", 0.1, "local SGD learning rate (under --dp-epsilon default 0.5)")
	f.StringVar(&aggregator, "aggregator", "fedavg", "fedavg, median, trimmed:F or krum:F")
	f.StringVar(&poison, "poison", "", "K:label-flip, K:scale:S or K:noise")
	f.Float64Var(&dpEpsilon, "dp-epsilon", 0, "each vault's lifetime ε over the whole training (0: no DP)")
	f.Uint64Var(&seed, "seed", 1, "seed of the split, the test set and the poisoned vaults")
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	det.add(c)
	for _, name := range []string{"data", "label"} {
		_ = c.MarkFlagRequired(name)
	}
	return c
}

func printSim(cfg *Config, r *federated.SimResult) {
	w := cfg.Stdout
	ints := func(xs []int) string {
		s := make([]string, len(xs))
		for i, x := range xs {
			s[i] = fmt.Sprint(x)
		}
		if len(s) == 0 {
			return "none"
		}
		return strings.Join(s, ",")
	}
	fmt.Fprintf(w, "vaults                %d (%s), %d rounds, %s\n", r.Vaults, r.Split, r.Rounds, r.Aggregator)
	fmt.Fprintf(w, "test rows             %d\n", r.TestRows)
	fmt.Fprintf(w, "federated accuracy    %.4f\n", r.FederatedAccuracy)
	fmt.Fprintf(w, "centralized accuracy  %.4f\n", r.CentralizedAccuracy)
	if r.CentralizedDPAccuracy != nil {
		fmt.Fprintf(w, "centralized under dp  %.4f\n", *r.CentralizedDPAccuracy)
	}
	fmt.Fprintf(w, "poisoned              %s\n", ints(r.Poisoned))
	fmt.Fprintf(w, "flagged               %s (poisoned %.0f%%, honest %.0f%%; honest updates %.1f%%)\n", ints(r.Flagged), 100*r.PoisonedFlagRate, 100*r.HonestFlagRate, 100*r.HonestUpdateFlagRate)
	fmt.Fprintf(w, "epsilon spent         %.4g\n", r.EpsilonSpent)
	fmt.Fprintf(w, "seconds per round     %.3f (setup %.1fs)\n", r.SecondsPerRound, r.SetupSeconds)
}

// detectorFlags are the anomaly detector's limits, for trove sim and
// trove train.
type detectorFlags struct {
	off                    bool
	dist, norm, co, spread float64
}

func (d *detectorFlags) add(c *cobra.Command) {
	f := c.Flags()
	f.BoolVar(&d.off, "no-detector", false, "flag no update by its anomaly score (receipts are still checked)")
	f.Float64Var(&d.spread, "flag-spread", federated.DefaultSpread,
		"flag an update this many robust deviations beyond the round's median distance, norm or cosine (negative: the fixed limits alone)")
	f.Float64Var(&d.dist, "flag-distance", 3, "never flag an update within this many times the median distance from the robust centre")
	f.Float64Var(&d.norm, "flag-norm", 3, "never flag an update whose norm is within this many times the median norm")
	f.Float64Var(&d.co, "flag-cosine", 0, "never flag an update whose cosine to the median direction is at least this")
}

// detector returns the detector the flags ask for, nil with
// --no-detector.
func (d *detectorFlags) detector() (*federated.Detector, error) {
	switch {
	case d.off:
		return nil, nil
	case !(d.spread > 0 || d.spread < 0) || math.IsInf(d.spread, 0):
		return nil, usageError("--flag-spread must be above 0 (or negative for the fixed limits alone)")
	case !(d.dist > 0 && d.norm > 0) || math.IsInf(d.dist, 0) || math.IsInf(d.norm, 0) || !(d.co >= -1 && d.co <= 1):
		return nil, usageError("--flag-distance and --flag-norm must be above 0, --flag-cosine in [-1, 1]")
	}
	return &federated.Detector{MaxDistRatio: d.dist, MaxNormRatio: d.norm, MinCosine: d.co, Spread: d.spread}, nil
}

// dpTrainingDefaults returns the epochs and learning rate of training
// under --dp-epsilon: where the flags were not given, one full-batch
// DP-SGD step per round at learning rate 0.5 (each step costs budget, so
// fewer, larger steps do better than the plain defaults).
func dpTrainingDefaults(cmd *cobra.Command, dpEpsilon float64, epochs int, lr float64) (int, float64) {
	if !(dpEpsilon > 0) {
		return epochs, lr
	}
	if !cmd.Flags().Changed("epochs") {
		epochs = 1
	}
	if !cmd.Flags().Changed("learning-rate") {
		lr = 0.5
	}
	return epochs, lr
}
