package requester

import (
	"context"
	"encoding/json"

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
		signed.Amount != served.Amount || signed.Currency != served.Currency {
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
	signed.State, signed.Response, signed.Reason, signed.RespondedAt = served.State, served.Response, served.Reason, served.RespondedAt
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
	return r.respond(ctx, c, cc.Claim, ledger.Acknowledge, "")
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
	return r.respond(ctx, c, claim, ledger.Dispute, reason)
}

func (r *Requester) respond(ctx context.Context, c *api.Client, claim *ledger.Claim, action, reason string) (*ledger.Claim, error) {
	token, err := ledger.SignClaimResponse(r.key, ledger.ClaimResponse{Requester: r.DID(), Vault: claim.Vault, ClaimID: claim.ID,
		ReceiptIDs: []string{claim.ReceiptID}, Action: action, Reason: reason, IssuedAt: r.now()})
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
