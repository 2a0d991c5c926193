package requester

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/api"
	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/ledger"
)

// CheckedClaim is a claim whose signature, receipt and amount the
// requester has verified.
type CheckedClaim struct {
	Claim   *ledger.Claim         // as the vault signed it, with the state the vault reports
	Receipt *ledger.ReceiptClaims // the receipt behind it, verified
	// Expected is the amount the consent's terms give for the receipt; a
	// claim whose Amount differs should be disputed.
	Expected int64
}

// CheckClaim fetches claim id from the vault behind c and verifies it
// against what the requester holds: the consent credential it names
// (kept by this requester, valid when the claim was made) gives the
// vault's DID and the price; the claim must be signed by that vault, to
// this requester; its receipt must verify, describe the claim's job under
// that consent, and carry a checkpoint consistent with those kept; and
// the amount must follow from the price and the receipt.
func (r *Requester) CheckClaim(ctx context.Context, c *api.Client, id string) (*CheckedClaim, error) {
	c = r.Signed(c)
	served, cred, err := r.claimAndConsent(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if cred.Subject != r.DID() {
		return nil, &trove.Error{Code: trove.EFORBIDDEN, Reason: "bad_claim", Message: "the claim's consent is not this requester's"}
	}
	// The claim names the DID that signed it: the consent's issuer, or
	// (after a key rotation) a successor the verified chain leads to.
	vaultDID := served.Vault
	if err := r.ensureSuccessor(ctx, c, cred.Issuer, vaultDID); err != nil {
		return nil, err
	}
	signed, err := ledger.VerifyClaim(served.Token, vaultDID)
	if err != nil {
		return nil, &trove.Error{Code: trove.EFORBIDDEN, Reason: "bad_claim", Message: "the claim's signature does not verify", Err: err}
	}
	if signed.ID != id || signed.Requester != r.DID() || signed.ConsentID != cred.ID || signed.ReceiptID != served.ReceiptID ||
		signed.Amount != served.Amount || signed.Currency != served.Currency || signed.Share != served.Share {
		return nil, &trove.Error{Code: trove.EFORBIDDEN, Reason: "bad_claim", Message: "the claim served differs from the claim signed, or is not this requester's"}
	}
	bundle, err := c.Receipt(ctx, signed.ReceiptID)
	if err != nil {
		return nil, err
	}
	rc, _, err := ledger.VerifyReceipt(bundle, vaultDID)
	if err != nil {
		return nil, &trove.Error{Code: trove.EFORBIDDEN, Reason: "bad_receipt", Message: "the receipt behind the claim does not verify", Err: err}
	}
	if rc.ID != signed.ReceiptID || rc.JobID != signed.JobID || rc.ConsentID != cred.ID || rc.Requester != r.DID() {
		return nil, &trove.Error{Code: trove.EFORBIDDEN, Reason: "bad_receipt", Message: "the receipt behind the claim describes another run"}
	}
	var b ledger.Receipt
	if err := json.Unmarshal(bundle, &b); err != nil {
		return nil, err
	}
	if _, err := r.CheckOlderCheckpoint(ctx, c, vaultDID, []byte(b.Checkpoint)); err != nil {
		return nil, err
	}
	expected, _, err := ledger.ClaimAmount(ledger.PerRun, cred.Terms.Price.Amount, rc.RowsRead)
	if err != nil {
		return nil, err
	}
	if signed.Currency != cred.Terms.Price.Currency || signed.Per != ledger.PerRun {
		expected = -1 // not what the consent priced
	}
	if signed.Share != cred.Terms.Share {
		expected = -1 // a share rule the consent does not state, or the reverse
	}
	signed.State, signed.Response, signed.Reason, signed.RespondedAt = served.State, served.Response, served.Reason, served.RespondedAt
	signed.Settled, signed.Contribution = served.Settled, served.Contribution
	return &CheckedClaim{Claim: signed, Receipt: rc, Expected: expected}, nil
}

// AcknowledgeClaim checks claim id (CheckClaim) and, if its amount is
// what the consent's terms give, sends the vault a signed
// acknowledgement of it and its receipt.
func (r *Requester) AcknowledgeClaim(ctx context.Context, c *api.Client, id string) (*ledger.Claim, error) {
	c = r.Signed(c)
	cc, err := r.CheckClaim(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if cc.Claim.Amount != cc.Expected {
		return nil, &trove.Error{Code: trove.EFORBIDDEN, Reason: "claim_mismatch",
			Message: "the claim's amount is not what the consent's terms give for its receipt; dispute it instead"}
	}
	if cc.Claim.Share != "" {
		return nil, &trove.Error{Code: trove.ECONFLICT, Reason: "settlement_required",
			Message: "the claim is under the share rule: settle it with the round's Contribution credential (trove claims settle), or dispute it"}
	}
	return r.respond(ctx, c, cc.Claim, ledger.Acknowledge, "", "")
}

// SettleClaim checks claim id (CheckClaim) and the Contribution credential
// contribution against it — issued by this requester to the claim's
// vault, for its receipt and currency, keeping its own payout rules —
// and sends the vault a signed settlement carrying the credential. Only a
// claim under the share rule is settled.
func (r *Requester) SettleClaim(ctx context.Context, c *api.Client, id, contribution string) (*ledger.Claim, error) {
	c = r.Signed(c)
	cc, err := r.CheckClaim(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if cc.Claim.Share == "" || cc.Expected != cc.Claim.Amount {
		return nil, &trove.Error{Code: trove.ECONFLICT, Reason: "no_share_rule",
			Message: "the claim is not a share-rule claim at the consent's price per round: acknowledge or dispute it"}
	}
	if err := r.checkContribution(contribution, cc.Claim); err != nil {
		return nil, err
	}
	return r.Settle(ctx, c, cc.Claim, contribution)
}

// checkContribution checks a Contribution credential for claim as its
// issuer (this requester) would have it: it verifies (its own payout
// rules included), and it is issued by this requester to the claim's
// vault — the DID that signed the claim, or one it succeeded through a
// rotation this requester followed (a coordinator names the DID it knew
// when training began) — for its receipt and currency.
func (r *Requester) checkContribution(token string, claim *ledger.Claim) error {
	cc, err := consent.VerifyContribution(token, r.now())
	if err != nil {
		return &trove.Error{Code: trove.EINVALID, Reason: "bad_contribution", Message: "the Contribution credential does not verify", Err: err}
	}
	vault := cc.Subject == claim.Vault
	if !vault {
		succ, err := r.Successors(cc.Subject)
		if err != nil {
			return err
		}
		vault = slices.Contains(succ, claim.Vault)
	}
	if cc.Issuer != r.DID() || !vault || cc.ReceiptID != claim.ReceiptID || cc.Pool.Currency != claim.Currency {
		return &trove.Error{Code: trove.EINVALID, Reason: "bad_contribution",
			Message: "the Contribution credential is not this requester's for the claim's vault, receipt and currency"}
	}
	return nil
}

// Settle sends the vault behind c this requester's signed settlement of
// claim (its ID, Vault and ReceiptID are what is signed) with the
// Contribution credential contribution, and returns the claim as the vault
// now holds it. It checks nothing of the claim: the caller has (as a
// training's coordinator has, with the claim that came with the job's
// answer). The vault checks the credential against the claim.
func (r *Requester) Settle(ctx context.Context, c *api.Client, claim *ledger.Claim, contribution string) (*ledger.Claim, error) {
	return r.respond(ctx, r.Signed(c), claim, ledger.Settle, "", contribution)
}

// DisputeClaim sends the vault a signed dispute of claim id with reason.
// It checks only that the claim is one the vault signed on this
// requester under a consent it holds: what is disputed may well be the
// receipt, the amount or what the vault serves.
func (r *Requester) DisputeClaim(ctx context.Context, c *api.Client, id, reason string) (*ledger.Claim, error) {
	c = r.Signed(c)
	served, cred, err := r.claimAndConsent(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if err := r.ensureSuccessor(ctx, c, cred.Issuer, served.Vault); err != nil {
		return nil, err
	}
	claim, err := ledger.VerifyClaim(served.Token, served.Vault)
	if err != nil || claim.Requester != r.DID() || claim.ID != id {
		return nil, &trove.Error{Code: trove.EFORBIDDEN, Reason: "bad_claim", Message: "the claim's signature does not verify, or the claim is not on this requester", Err: err}
	}
	return r.respond(ctx, c, claim, ledger.Dispute, reason, "")
}

func (r *Requester) respond(ctx context.Context, c *api.Client, claim *ledger.Claim, action, reason, contribution string) (*ledger.Claim, error) {
	token, err := ledger.SignClaimResponse(r.key, ledger.ClaimResponse{Requester: r.DID(), Vault: claim.Vault, ClaimID: claim.ID,
		ReceiptIDs: []string{claim.ReceiptID}, Action: action, Reason: reason, Contribution: contribution, IssuedAt: r.now()})
	if err != nil {
		return nil, trove.Errorf(trove.EINVALID, "cannot sign the %s: %v", action, err)
	}
	return c.RespondClaim(ctx, claim.ID, action, token)
}

// claimAndConsent fetches claim id as the vault serves it, with the
// consent it names: one this requester keeps, verified as of the time the
// claim was made.
func (r *Requester) claimAndConsent(ctx context.Context, c *api.Client, id string) (*ledger.Claim, *consent.Credential, error) {
	served, err := c.Claim(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	credential, err := r.Credential(served.ConsentID)
	if err != nil {
		return nil, nil, err
	}
	cred, err := consent.VerifyCredential(credential, served.CreatedAt)
	if err != nil {
		return nil, nil, &trove.Error{Code: trove.EFORBIDDEN, Reason: "bad_claim", Message: "the claim names a consent not valid when it was made", Err: err}
	}
	return served, cred, nil
}
