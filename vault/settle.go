package vault

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/ledger"
)

// MaxPoolRuns bounds a settled round's pool: at most this many times the
// claim's price per round (a round of more updates than a training has
// participants is not credible).
const MaxPoolRuns = 100_000

// settle settles claim c, under the share rule, with the verified
// response r (action ledger.Settle, the signed token) inside the caller's
// transaction: the Contribution credential r carries must verify, be
// issued by the claim's requester to a DID this vault's owner has had,
// name the claim's receipt and currency, state a pool that is a whole
// multiple (0..MaxPoolRuns) of the claim's price, pay nothing to a flagged
// update, and pay the share of the pool within one minor unit. Then the
// claim is settled at the payout and a claim.settled entry logged. Every
// refusal is a *trove.Error with its own reason, and changes nothing.
func (v *Vault) settle(ctx context.Context, tx *sql.Tx, c *ledger.Claim, r *ledger.ClaimResponse, token string, now time.Time) error {
	cc, err := consent.VerifyContribution(r.Contribution, now)
	if err != nil {
		reason := "bad_contribution"
		if code := consent.CodeOf(err); code == consent.ErrFlaggedPaid || code == consent.ErrPayoutNotShare {
			reason = string(code)
		}
		return &trove.Error{Code: trove.EFORBIDDEN, Reason: reason, Message: "the Contribution credential is refused: " + err.Error(), Err: err}
	}
	refuse := func(reason, msg string) error {
		return &trove.Error{Code: trove.EFORBIDDEN, Reason: reason, Message: msg}
	}
	switch {
	case cc.Issuer != c.Requester:
		return refuse("contribution_issuer", "the Contribution credential is not issued by the claim's requester")
	case !v.isOwnerDID(cc.Subject):
		return refuse("contribution_subject", "the Contribution credential is for another vault")
	case cc.ReceiptID != c.ReceiptID:
		return refuse("contribution_receipt", "the Contribution credential names another receipt than the claim's")
	case cc.Pool.Currency != c.Currency:
		return refuse("contribution_currency", "the Contribution credential pays in another currency than the claim's")
	}
	if err := checkPool(cc.Pool.Amount, c.Amount); err != nil {
		return err
	}
	respSum := sha256.Sum256([]byte(token))
	credSum := sha256.Sum256([]byte(r.Contribution))
	res, err := tx.ExecContext(ctx, `UPDATE claims SET state = 'settled', settled = ?, contribution = ?, response = ?, responded_at = ?
		WHERE id = ? AND state = 'owed' AND share != ''`, cc.Payout.Amount, r.Contribution, token, formatTime(now), c.ID)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n != 1 {
		return trove.Errorf(trove.ECONFLICT, "claim %s is no longer owed", c.ID)
	}
	if _, err := v.appendLog(ctx, tx, ledger.Entry{Type: ledger.ClaimSettled, Time: now, Subject: c.Requester, Fields: map[string]string{
		"claim_id": c.ID, "response_sha256": hex.EncodeToString(respSum[:]), "contribution_sha256": hex.EncodeToString(credSum[:]),
		"amount": fmt.Sprint(cc.Payout.Amount), "currency": c.Currency,
	}}); err != nil {
		return err
	}
	payout := cc.Payout.Amount
	c.State, c.Settled, c.Contribution, c.Response, c.RespondedAt = ledger.ClaimStateSettled, &payout, r.Contribution, token, &now
	return nil
}

// checkPool refuses a round's pool that is not a whole multiple, from 0 to
// MaxPoolRuns times, of price (the claim's price per round): the pool is
// the price times the updates the coordinator received.
func checkPool(pool, price int64) error {
	switch {
	case price == 0 && pool != 0, price > 0 && pool%price != 0:
		return &trove.Error{Code: trove.EFORBIDDEN, Reason: "pool_not_multiple",
			Message: "the round's pool is not the price per round times the updates received"}
	case price > 0 && pool/price > MaxPoolRuns:
		return &trove.Error{Code: trove.EFORBIDDEN, Reason: "pool_over_bound",
			Message: fmt.Sprintf("the round's pool is more than %d times the price per round", MaxPoolRuns)}
	}
	return nil
}
