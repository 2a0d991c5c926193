package federated

import (
	"context"
	"fmt"
	"sync"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/ledger"
)

// Settler is a Participant that settles the vault's claims made under the
// share rule (consent.ShareContribution): a round's claim names the price
// per round provisionally, and the coordinator settles it with the
// round's Contribution credential for that vault.
type Settler interface {
	// Settle sends the vault the coordinator's signed settlement of claim
	// (its ID, Vault and ReceiptID) with the Contribution credential, and
	// returns the claim as the vault now holds it.
	Settle(ctx context.Context, claim *ledger.Claim, contribution string) (*ledger.Claim, error)
	// Claim returns the vault's claim id as it stands.
	Claim(ctx context.Context, id string) (*ledger.Claim, error)
}

// roundPay shares round r's pool — the price per round times the updates
// received — between the updates by contribution (Shares: samples times
// alignment with the aggregate delta, or by samples alone without a
// quorum; a flagged update earns nothing), exactly (Split), and gives every
// participant whose receipt verified its Contribution credential: those
// whose update was flagged, tampered with or unusable get one for
// nothing. It notes the claims to settle.
func (c *Coordinator) roundPay(r int, rep *RoundReport, answers []answer, updates []Update, from []int, flagged []bool, delta []float64) error {
	shares := make([]float64, len(updates))
	if len(updates) > 0 {
		var err error
		if shares, err = Shares(updates, delta, flagged); err != nil {
			return err
		}
	}
	pool := c.cfg.Price.Amount * int64(len(updates))
	exact, pay := Split(pool, shares)
	update := make(map[int]int, len(from)) // participant → its update
	for k, i := range from {
		update[i] = k
	}
	for i, a := range answers {
		if a.claims == nil {
			continue // no verified receipt: nothing ran that this coordinator can vouch for
		}
		pr := &rep.Participants[i]
		isFlagged := pr.Status == StatusFlagged
		if k, ok := update[i]; ok {
			pr.Share, pr.Payout, isFlagged = exact[k], pay[k], flagged[k]
		}
		if err := c.contribute(r, pr, a, pool, isFlagged); err != nil {
			return err
		}
	}
	return nil
}

// momentsPay pays round 0, the feature moments, as pooled into out:
// every vault whose moments were used is paid the price, the pool being
// the price times their number; every other vault that answered with a
// verified receipt gets a Contribution credential for nothing, flagged
// when its moments were left out as out of line or its receipt proves
// tampering.
func (c *Coordinator) momentsPay(answers []answer, out []ParticipantRound) error {
	var paid []int
	for i := range out {
		if out[i].Status == StatusUsed {
			paid = append(paid, i)
		}
	}
	shares := make([]float64, len(paid))
	for k := range shares {
		shares[k] = 1
	}
	pool := c.cfg.Price.Amount * int64(len(paid))
	exact, pay := Split(pool, shares)
	for k, i := range paid {
		out[i].Share, out[i].Payout = exact[k], pay[k]
	}
	for i, a := range answers {
		if a.claims != nil {
			if err := c.contribute(0, &out[i], a, pool, out[i].Status == StatusFlagged); err != nil {
				return err
			}
		}
	}
	return nil
}

// contribute issues pr's Contribution credential for round r (pool in
// all, pr.Share and pr.Payout of it) and notes the vault's claim for the
// job when it is under the share rule and verifies: signed by the vault,
// for the receipt the coordinator verified.
func (c *Coordinator) contribute(r int, pr *ParticipantRound, a answer, pool int64, flagged bool) error {
	if c.cfg.Contribution != nil {
		cur := c.cfg.Price.Currency
		tok, err := c.cfg.Contribution(consent.Contribution{Subject: pr.Vault, Training: c.cfg.Training, Round: r,
			Share: pr.Share, Pool: consent.Money{Amount: pool, Currency: cur}, Payout: consent.Money{Amount: pr.Payout, Currency: cur},
			Flagged: flagged, ReceiptID: pr.ReceiptID})
		if err != nil {
			return fmt.Errorf("issue a contribution credential: %w", err)
		}
		pr.Contribution = tok
	}
	if a.reply == nil || a.reply.Claim == nil {
		return nil
	}
	cl, err := ledger.VerifyClaim(a.reply.Claim.Token, pr.Vault)
	switch {
	case err != nil || cl.ReceiptID != a.claims.ID || cl.JobID != a.claims.JobID:
		pr.SettleError = "bad_claim"
	case cl.Share != ledger.ShareContribution:
		// Not under the share rule: the claim is owed as it is.
	case pr.Contribution == "":
		pr.ClaimID, pr.SettleError = cl.ID, "no_contribution"
	default:
		pr.ClaimID = cl.ID
	}
	return nil
}

// settle settles the claims of round which (0: the feature moments; -1:
// every round) that wait for it, each participant at once (at most
// Parallel at a time, each under Timeout), and records the outcome in
// the round's record. It reports whether it tried any.
func (c *Coordinator) settle(ctx context.Context, st *State, which int) bool {
	var todo []*ParticipantRound
	add := func(prs []ParticipantRound) {
		for i := range prs {
			if pr := &prs[i]; pr.ClaimID != "" && pr.Contribution != "" && !pr.Settled {
				todo = append(todo, pr)
			}
		}
	}
	if which <= 0 {
		add(st.Moments)
	}
	for i := range st.Rounds {
		if which < 0 || st.Rounds[i].Round == which {
			add(st.Rounds[i].Participants)
		}
	}
	sem := make(chan struct{}, c.cfg.Parallel)
	var wg sync.WaitGroup
	for _, pr := range todo {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			s, ok := c.parts[pr.Index].(Settler)
			if !ok {
				pr.SettleError = "cannot_settle"
				return
			}
			sctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
			defer cancel()
			c.settleOne(sctx, s, pr)
		}()
	}
	wg.Wait()
	return len(todo) > 0
}

// settleOne settles pr's claim at pr.Payout. A claim already answered
// (by an earlier attempt whose answer was lost) is read back and counts
// as settled if the vault holds it settled with this credential.
func (c *Coordinator) settleOne(ctx context.Context, s Settler, pr *ParticipantRound) {
	got, err := s.Settle(ctx, &ledger.Claim{ID: pr.ClaimID, Vault: pr.Vault, ReceiptID: pr.ReceiptID}, pr.Contribution)
	if trove.ErrorReason(err) == "claim_answered" {
		got, err = s.Claim(ctx, pr.ClaimID)
	}
	switch {
	case err != nil:
		pr.SettleError = reasonOf(err)
	case got.State != ledger.ClaimStateSettled || got.Settled == nil || *got.Settled != pr.Payout || got.Contribution != pr.Contribution:
		pr.SettleError = "settled_otherwise"
	default:
		pr.Settled, pr.SettleError = true, ""
	}
}
