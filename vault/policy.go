package vault

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/compute"
	"github.com/trove-project/trove/ledger"
)

// Privacy is the owner's output settings for one dataset and the state of
// its differential-privacy accountant.
type Privacy struct {
	Dataset string `json:"dataset"`
	// Minimum is the least output policy every job on the dataset gets,
	// whatever its consent says: release, review (every result waits for
	// the owner) or dp (with the ε and δ one job spends when its consent
	// names none or more).
	Minimum compute.OutputPolicy `json:"minimum"`
	// BudgetEpsilon and BudgetDelta are the lifetime (ε, δ) budget of DP
	// jobs on the dataset; ε 0 allows none.
	BudgetEpsilon float64 `json:"budget_epsilon"`
	BudgetDelta   float64 `json:"budget_delta"`
	// SpentRho is what DP jobs spent, in zCDP's ρ (they add up);
	// SpentEpsilon and LeftEpsilon express it as ε at BudgetDelta.
	SpentRho     float64 `json:"spent_rho"`
	SpentEpsilon float64 `json:"spent_epsilon"`
	LeftEpsilon  float64 `json:"left_epsilon"`
}

// Limits on a lifetime budget.
const (
	MaxBudgetEpsilon = 100
	MaxBudgetDelta   = 1e-3
)

func (p *Privacy) fill() {
	total := p.totalRho()
	p.SpentEpsilon = compute.EpsilonOf(p.SpentRho, p.budgetDelta())
	p.LeftEpsilon = math.Max(0, p.BudgetEpsilon-p.SpentEpsilon)
	if p.SpentRho >= total {
		p.LeftEpsilon = 0
	}
}

// budgetDelta is the δ the accountant converts at: a budget of δ 0 is
// read as pure ε, which zCDP cannot give for composition, so a tiny δ is
// used for the conversion and the total.
func (p *Privacy) budgetDelta() float64 {
	if p.BudgetDelta > 0 {
		return p.BudgetDelta
	}
	return 1e-12
}

// totalRho is the lifetime budget in ρ.
func (p *Privacy) totalRho() float64 {
	if p.BudgetEpsilon <= 0 {
		return 0
	}
	return compute.RhoFor(p.BudgetEpsilon, p.budgetDelta())
}

// SetPrivacy sets the output settings of the dataset called name (which
// need not exist yet: settings outlive a re-import, and so does what was
// spent). It logs the change in the same transaction.
func (v *Vault) SetPrivacy(ctx context.Context, name string, minimum compute.OutputPolicy, budgetEpsilon, budgetDelta float64) (*Privacy, error) {
	if !ValidDatasetName(name) {
		return nil, trove.Errorf(trove.EINVALID, "dataset name %q: use 1 to 64 letters, digits, '_', '.' or '-'", name)
	}
	if err := minimum.Validate(); err != nil {
		return nil, &trove.Error{Code: trove.EINVALID, Reason: "bad_policy", Message: err.Error()}
	}
	if !(budgetEpsilon >= 0 && budgetEpsilon <= MaxBudgetEpsilon) || !(budgetDelta >= 0 && budgetDelta <= MaxBudgetDelta) {
		return nil, &trove.Error{Code: trove.EINVALID, Reason: "bad_budget",
			Message: fmt.Sprintf("the budget must have 0 <= epsilon <= %d and 0 <= delta <= %g", MaxBudgetEpsilon, MaxBudgetDelta)}
	}
	now := v.now()
	err := v.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO privacy (dataset, policy, job_epsilon, job_delta, budget_epsilon, budget_delta) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (dataset) DO UPDATE SET policy = excluded.policy, job_epsilon = excluded.job_epsilon, job_delta = excluded.job_delta,
			budget_epsilon = excluded.budget_epsilon, budget_delta = excluded.budget_delta`,
			name, minimum.Kind, minimum.Epsilon, minimum.Delta, budgetEpsilon, budgetDelta)
		if err != nil {
			return err
		}
		_, err = v.appendLog(ctx, tx, ledger.Entry{Type: ledger.PrivacySet, Time: now, Subject: v.DID(), Fields: map[string]string{
			"dataset": name, "policy": minimum.Kind, "job_epsilon": fmtFloat(minimum.Epsilon), "job_delta": fmtFloat(minimum.Delta),
			"budget_epsilon": fmtFloat(budgetEpsilon), "budget_delta": fmtFloat(budgetDelta),
		}})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("set privacy of %s: %w", name, err)
	}
	return v.Privacy(ctx, name)
}

// Privacy returns the output settings of the dataset called name: the
// defaults (release, no DP budget) when the owner set none.
func (v *Vault) Privacy(ctx context.Context, name string) (*Privacy, error) {
	p, err := readPrivacy(ctx, v.db, name)
	if err != nil {
		return nil, fmt.Errorf("privacy of %s: %w", name, err)
	}
	return p, nil
}

func readPrivacy(ctx context.Context, q queryer, name string) (*Privacy, error) {
	p := &Privacy{Dataset: name, Minimum: compute.OutputPolicy{Kind: compute.PolicyRelease}}
	err := q.QueryRowContext(ctx, `SELECT policy, job_epsilon, job_delta, budget_epsilon, budget_delta, spent_rho FROM privacy WHERE dataset = ?`, name).
		Scan(&p.Minimum.Kind, &p.Minimum.Epsilon, &p.Minimum.Delta, &p.BudgetEpsilon, &p.BudgetDelta, &p.SpentRho)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	p.fill()
	return p, nil
}

// consentPolicy is the output policy the consent's credential grants
// (consent.OutputPolicy, checked when the credential was issued and
// verified). Records from before credentials carried one grant release.
func consentPolicy(c *Consent) compute.OutputPolicy {
	if c.Output.Policy == "" {
		return compute.OutputPolicy{Kind: compute.PolicyRelease}
	}
	return compute.OutputPolicy{Kind: c.Output.Policy, Epsilon: c.Output.Epsilon, Delta: c.Output.Delta}
}

// effectivePolicy combines the consent's policy with the owner's minimum
// for the dataset: dp if either says dp (with the smaller ε of the two),
// else review if either says review, else release.
func effectivePolicy(granted, minimum compute.OutputPolicy) compute.OutputPolicy {
	switch {
	case granted.Kind == compute.PolicyDP && minimum.Kind == compute.PolicyDP:
		if minimum.Epsilon < granted.Epsilon {
			return minimum
		}
		return granted
	case granted.Kind == compute.PolicyDP:
		return granted
	case minimum.Kind == compute.PolicyDP:
		return minimum
	case granted.Kind == compute.PolicyReview || minimum.Kind == compute.PolicyReview:
		return compute.OutputPolicy{Kind: compute.PolicyReview}
	}
	return compute.OutputPolicy{Kind: compute.PolicyRelease}
}

// chargePolicy decides a job's output policy inside the transaction that
// accepts it and, for a DP job, charges the dataset's accountant; a job
// the policy cannot be honoured for, or that would go over the budget, is
// refused (and the refusal logged by the caller).
func (v *Vault) chargePolicy(ctx context.Context, tx *sql.Tx, c *Consent) (compute.OutputPolicy, *Privacy, error) {
	priv, err := readPrivacy(ctx, tx, c.Dataset)
	if err != nil {
		return compute.OutputPolicy{}, nil, err
	}
	pol := effectivePolicy(consentPolicy(c), priv.Minimum)
	if err := pol.Validate(); err != nil {
		return pol, nil, refusal("policy_invalid", "the job's output policy is invalid")
	}
	if pol.Kind != compute.PolicyDP {
		return pol, priv, nil
	}
	if !compute.HasDP(c.Algorithm) {
		return pol, nil, refusal("dp_unsupported", "%s has no differentially private form", truncate(c.Algorithm, 80))
	}
	cost := pol.Rho()
	if priv.SpentRho+cost > priv.totalRho()*(1+1e-12) {
		return pol, nil, refusal("budget_exhausted", "the dataset's privacy budget does not cover this job (epsilon %s left)", fmtFloat(priv.LeftEpsilon))
	}
	if _, err := tx.ExecContext(ctx, `UPDATE privacy SET spent_rho = spent_rho + ? WHERE dataset = ?`, cost, c.Dataset); err != nil {
		return pol, nil, err
	}
	priv.SpentRho += cost
	priv.fill()
	return pol, priv, nil
}

// dpRand returns a fresh secret random source for DP noise, from the
// vault's randomness: never from the job id, which the requester learns.
func (v *Vault) dpRand() (*rand.Rand, error) {
	var seed [32]byte
	if _, err := io.ReadFull(v.cfg.Rand, seed[:]); err != nil {
		return nil, fmt.Errorf("seed DP noise: %w", err)
	}
	seed = sha256.Sum256(seed[:])
	return rand.New(rand.NewChaCha8(seed)), nil
}

func fmtFloat(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
