package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/vault"
)

func policyCmd(cfg *Config) *cobra.Command {
	c := &cobra.Command{
		Use:   "policy",
		Short: "Standing rules that approve or deny requests without asking you",
		Long: `Standing rules decide consent requests as they arrive. A rule file is JSON or
YAML: a version (1) and a list of rules, tried in order; the first rule whose
conditions all hold decides (approve, deny or ask); a request no rule matches
waits for you. Each automatic decision is logged with the rule's id and the
rule set's hash, and the catalog publishes that hash and a plain-language
summary so requesters know the terms before they ask. Example:

  version: 1
  rules:
    - id: no-marketing
      decision: deny
      purpose_codes: [marketing]
    - id: stats-for-research
      decision: approve
      algorithms: ["builtin:stats@1"]
      purpose_codes: [research]
      outputs: [dp]
      max_epsilon: 0.5
      max_runs: 10
      min_price: {amount: 50, currency: EUR}
      per: [run]

Conditions: requesters, datasets, algorithms, purpose_codes, outputs, columns,
max_runs, max_epsilon, max_delta, min_price, per, max_validity.`,
	}
	show := &cobra.Command{
		Use:   "show",
		Short: "Show the active rules, their hash and their summary",
		Args:  cobra.NoArgs,
		RunE: withVault(cfg, func(cmd *cobra.Command, _ []string, v *vault.Vault) error {
			p, err := v.Policy(cmd.Context())
			if err != nil {
				return err
			}
			printPolicy(cfg.Stdout, p)
			return nil
		}),
	}
	set := &cobra.Command{
		Use:   "set FILE",
		Short: "Make the rules in FILE (JSON or YAML) the active ones; the change is logged",
		Args:  cobra.ExactArgs(1),
		RunE: withVault(cfg, func(cmd *cobra.Command, args []string, v *vault.Vault) error {
			p, err := readPolicyFile(args[0])
			if err != nil {
				return err
			}
			if err := v.SetPolicy(cmd.Context(), p); err != nil {
				return err
			}
			fmt.Fprintln(cfg.Stdout, "Active rules set.")
			printPolicy(cfg.Stdout, p)
			return nil
		}),
	}
	var file string
	test := &cobra.Command{
		Use:   "test REQUEST",
		Short: "Say what the rules (active, or --file) would decide for a received request, without deciding it",
		Args:  cobra.ExactArgs(1),
		RunE: withVault(cfg, func(cmd *cobra.Command, args []string, v *vault.Vault) error {
			var p *consent.Policy
			var err error
			if file != "" {
				p, err = readPolicyFile(file)
			} else {
				p, err = v.Policy(cmd.Context())
			}
			if err != nil {
				return err
			}
			d, err := v.TestPolicy(cmd.Context(), p, args[0])
			if err != nil {
				return err
			}
			rule := "no rule matches"
			if d.RuleID != "" {
				rule = "rule " + d.RuleID
			}
			fmt.Fprintf(cfg.Stdout, "Request %s: %s (%s; rule set %s)\n", args[0], d.Decision, rule, d.RuleSet)
			return nil
		}),
	}
	test.Flags().StringVar(&file, "file", "", "a rule file to test instead of the active rules")
	c.AddCommand(show, set, test)
	return c
}

func readPolicyFile(name string) (*consent.Policy, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, usageError("policy file: %v", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, consent.MaxPolicySize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	p, err := consent.ParsePolicy(data)
	if err != nil {
		return nil, usageError("%s: %v", name, err)
	}
	return p, nil
}

func printPolicy(w io.Writer, p *consent.Policy) {
	fmt.Fprintf(w, "Rule set %s (%d rules)\n", p.Hash(), len(p.Rules))
	for _, line := range p.Summary() {
		fmt.Fprintf(w, "  %s\n", line)
	}
}
