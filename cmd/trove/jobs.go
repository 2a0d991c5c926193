package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/trove-project/trove/compute"
	"github.com/trove-project/trove/vault"
)

func jobsCmd(cfg *Config) *cobra.Command {
	c := &cobra.Command{Use: "jobs", Short: "See the jobs run on your data; review held results"}
	list := &cobra.Command{
		Use: "list", Short: "List jobs, newest first", Args: cobra.NoArgs,
		RunE: withVault(cfg, func(cmd *cobra.Command, _ []string, v *vault.Vault) error {
			jobs, err := v.Jobs(cmd.Context())
			if err != nil {
				return err
			}
			if len(jobs) == 0 {
				fmt.Fprintln(cfg.Stdout, "No jobs yet.")
				return nil
			}
			w := tabwriter.NewWriter(cfg.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "JOB\tSTATE\tREASON\tPOLICY\tALGORITHM\tCREATED\tREQUESTER")
			for _, j := range jobs {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", j.ID, j.State, j.Reason, j.Policy, shortAlg(j.Algorithm),
					j.CreatedAt.Format(time.DateTime), j.Requester)
			}
			return w.Flush()
		}),
	}
	stderr := &cobra.Command{
		Use: "stderr ID", Short: "Print what a job's module wrote on stderr (first 64 KiB)", Args: cobra.ExactArgs(1),
		RunE: withVault(cfg, func(cmd *cobra.Command, args []string, v *vault.Vault) error {
			b, err := v.JobStderr(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			_, err = cfg.Stdout.Write(b)
			return err
		}),
	}
	review := &cobra.Command{
		Use: "review ID", Short: "Show a result held for your review", Args: cobra.ExactArgs(1),
		RunE: withVault(cfg, func(cmd *cobra.Command, args []string, v *vault.Vault) error {
			j, err := v.ReviewJob(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cfg.Stdout, "Job %s by %s (%s) is awaiting your review. Its result:\n%s\n", j.ID, j.Requester, shortAlg(j.Algorithm), j.Result)
			fmt.Fprintf(cfg.Stdout, "Release it with `trove jobs release %s` or withhold it with `trove jobs withhold %s`.\n", j.ID, j.ID)
			return nil
		}),
	}
	release := &cobra.Command{
		Use: "release ID", Short: "Release a held result to its requester (with a receipt and a claim)", Args: cobra.ExactArgs(1),
		RunE: withVault(cfg, func(cmd *cobra.Command, args []string, v *vault.Vault) error {
			j, err := v.ReleaseJob(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cfg.Stdout, "Released the result of job %s.\n", j.ID)
			return nil
		}),
	}
	withhold := &cobra.Command{
		Use: "withhold ID", Short: "Withhold a held result: it is deleted and never leaves", Args: cobra.ExactArgs(1),
		RunE: withVault(cfg, func(cmd *cobra.Command, args []string, v *vault.Vault) error {
			j, err := v.WithholdJob(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cfg.Stdout, "Withheld the result of job %s.\n", j.ID)
			return nil
		}),
	}
	c.AddCommand(list, stderr, review, release, withhold)
	return c
}

// privacyCmd is `trove data privacy NAME`: the least output policy for
// every job on a dataset and its lifetime differential-privacy budget.
func privacyCmd(cfg *Config) *cobra.Command {
	var policy string
	var jobEps, jobDelta, budgetEps, budgetDelta float64
	c := &cobra.Command{
		Use:   "privacy NAME",
		Short: "Set a dataset's output policy (release|review|dp) and its lifetime privacy budget",
		Long: `Set the least output policy every job on the dataset gets, whatever its
consent says: release, review (you release or withhold each result) or dp
(only noised statistics of built-in algorithms leave, each job spending
--job-epsilon/--job-delta). --epsilon/--delta set the dataset's lifetime
budget: a DP job that would go over it is refused before it runs.`,
		Args: cobra.ExactArgs(1),
		RunE: withVault(cfg, func(cmd *cobra.Command, args []string, v *vault.Vault) error {
			min := compute.OutputPolicy{Kind: policy}
			if policy == compute.PolicyDP {
				min.Epsilon, min.Delta = jobEps, jobDelta
			}
			p, err := v.SetPrivacy(cmd.Context(), args[0], min, budgetEps, budgetDelta)
			if err != nil {
				return err
			}
			printPrivacy(cfg, p)
			return nil
		}),
	}
	c.Flags().StringVar(&policy, "policy", compute.PolicyRelease, "least output policy: release, review or dp")
	c.Flags().Float64Var(&jobEps, "job-epsilon", 1, "ε one DP job spends (with --policy dp)")
	c.Flags().Float64Var(&jobDelta, "job-delta", 1e-6, "δ one DP job spends (with --policy dp); 0 for pure ε-DP")
	c.Flags().Float64Var(&budgetEps, "epsilon", 0, "lifetime ε budget of DP jobs on the dataset (0: none allowed)")
	c.Flags().Float64Var(&budgetDelta, "delta", 1e-5, "lifetime δ budget")
	return c
}

func printPrivacy(cfg *Config, p *vault.Privacy) {
	fmt.Fprintf(cfg.Stdout, "Dataset %s: policy %s", p.Dataset, p.Minimum.Kind)
	if p.Minimum.Kind == compute.PolicyDP {
		fmt.Fprintf(cfg.Stdout, " (ε %g, δ %g per job)", p.Minimum.Epsilon, p.Minimum.Delta)
	}
	fmt.Fprintf(cfg.Stdout, "; budget ε %g, δ %g: spent ε %.4g, left ε %.4g\n", p.BudgetEpsilon, p.BudgetDelta, p.SpentEpsilon, p.LeftEpsilon)
}
