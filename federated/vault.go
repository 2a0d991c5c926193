package federated

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/api"
	"github.com/trove-project/trove/compute"
	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/ledger"
	"github.com/trove-project/trove/requester"
	"github.com/trove-project/trove/vault"
)

// TrainingPurpose is the purpose a training consent request states. The
// share rule is a term of the request too (price.share), which the owner
// sees in plain words; the purpose says how contribution is measured.
const TrainingPurpose = "Model training: federated logistic regression with builtin:logreg-train@1, one run per round " +
	"(plus one for feature means). Payouts per round are shared in proportion to samples times the update's " +
	"alignment with the aggregate; an update flagged as anomalous earns nothing for that round."

// TrainingAsk is the consent request of a training run over rounds
// rounds: purpose model training, one run per round and one for the
// feature moments, priced per round under the contribution share rule
// (each round's claim names the price provisionally; the coordinator
// settles it with the round's Contribution credential). With epsilon > 0
// it asks for the dp output policy, each round spending epsilon at delta;
// else release.
func TrainingAsk(datasetName string, rounds int, price consent.Money, validity time.Duration, epsilon, delta float64) requester.Ask {
	out := consent.OutputPolicy{Policy: consent.OutputRelease}
	if epsilon > 0 {
		out = consent.OutputPolicy{Policy: consent.OutputDP, Epsilon: epsilon, Delta: delta}
	}
	return requester.Ask{Dataset: datasetName, Algorithm: compute.LogRegTrainID, Purpose: TrainingPurpose,
		PurposeCode: consent.PurposeModelTraining, MaxRuns: rounds + 1, Output: out, Price: price, Per: consent.PerRound,
		Share: consent.ShareContribution, Validity: validity}
}

// VaultParticipant reaches a vault over its HTTP API as a requester
// holding a Consent credential for builtin:logreg-train@1.
type VaultParticipant struct {
	Requester  *requester.Requester
	Client     *api.Client
	Vault      string // the vault's DID
	Credential string // the Consent credential (VC-JWT)
}

// DID returns the vault's DID.
func (p *VaultParticipant) DID() string { return p.Vault }

// Run presents the credential to the vault bound to a fresh challenge,
// runs the training step and returns the result with its receipt (which
// requester.RunJob has verified against the vault's DID and kept
// checkpoint).
func (p *VaultParticipant) Run(ctx context.Context, params json.RawMessage) (*Reply, error) {
	run, err := p.Requester.RunJob(ctx, p.Client, p.Credential, nil, params)
	if err != nil {
		if run != nil && run.Job != nil && run.Job.Reason != "" {
			return nil, &trove.Error{Code: trove.EUNAVAILABLE, Reason: run.Job.Reason, Message: fmt.Sprintf("job %s %s", run.Job.ID, run.Job.State), Err: err}
		}
		return nil, err
	}
	if run.Job.State != vault.JobSucceeded {
		return nil, trove.Errorf(trove.EUNAVAILABLE, "job %s %s", run.Job.ID, run.Job.State)
	}
	return &Reply{JobID: run.Job.ID, Result: run.Job.Result, Receipt: run.Job.Receipt, Claim: run.Job.Claim}, nil
}

// Settle sends the vault the requester's signed settlement of claim with
// the Contribution credential contribution (requester.Settle).
func (p *VaultParticipant) Settle(ctx context.Context, claim *ledger.Claim, contribution string) (*ledger.Claim, error) {
	return p.Requester.Settle(ctx, p.Client, claim, contribution)
}

// Claim returns the vault's claim id as it stands.
func (p *VaultParticipant) Claim(ctx context.Context, id string) (*ledger.Claim, error) {
	return p.Requester.Signed(p.Client).Claim(ctx, id)
}

// AwaitConsent follows a consent request until the vault approves it,
// denies it, or timeout passes, polling every interval; it returns the
// credential. wait, if set, is called before each poll.
func AwaitConsent(ctx context.Context, r *requester.Requester, c *api.Client, requestID string, timeout, interval time.Duration, wait func()) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		st, _, err := r.RequestStatus(ctx, c, requestID)
		if err != nil {
			return "", err
		}
		switch st.State {
		case vault.Approved:
			return st.Credential, nil
		case vault.Pending:
		default:
			return "", &trove.Error{Code: trove.EFORBIDDEN, Reason: "consent_" + st.State, Message: fmt.Sprintf("consent request %s is %s", requestID, st.State)}
		}
		if wait != nil {
			wait()
		}
		select {
		case <-ctx.Done():
			return "", &trove.Error{Code: trove.EUNAVAILABLE, Reason: "consent_timeout", Message: fmt.Sprintf("consent request %s was not approved in %s", requestID, timeout)}
		case <-t.C:
		}
	}
}

// RoundEpsilon is the ε each of rounds DP jobs may spend at delta so that
// together they spend total (they add up in zCDP's ρ, not in ε), a hair
// under so that rounding never tips an accountant over.
func RoundEpsilon(total, delta float64, rounds int) float64 {
	return compute.EpsilonOf(compute.RhoFor(total, delta)/float64(rounds)*(1-1e-9), delta)
}

// DefaultDelta is the δ of DP training when none is given.
const DefaultDelta = 1e-5
