package vault

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/ledger"
)

// claimTerms returns the pricing of a run under consent c: the price per
// unit in minor units, its currency, the unit (ledger.PerRun or
// ledger.Per1000Rows) and the share rule. A consent priced per federated
// round (consent.PerRound) is paid per run: a round is one job on this
// vault; under the contribution share rule its price is the provisional
// amount until the requester settles the claim. Consents recorded before
// they carried a unit price per run.
func claimTerms(c *Consent) (price int64, currency, per, share string) {
	switch {
	case c.Per == consent.Per1000Rows:
		return c.Price.Amount, c.Price.Currency, ledger.Per1000Rows, ""
	case c.Per == consent.PerRound && c.Share == consent.ShareContribution:
		return c.Price.Amount, c.Price.Currency, ledger.PerRun, ledger.ShareContribution
	default:
		return c.Price.Amount, c.Price.Currency, ledger.PerRun, ""
	}
}

// newClaim makes and signs the claim for the run rc records, priced by
// the consent's terms.
func (v *Vault) newClaim(key ledger.Signer, id string, c *Consent, rc ledger.ReceiptClaims) (*ledger.Claim, error) {
	price, currency, per, share := claimTerms(c)
	amount, quantity, err := ledger.ClaimAmount(per, price, rc.RowsRead)
	if err != nil {
		return nil, fmt.Errorf("claim for job %s: %w", rc.JobID, err)
	}
	claim := ledger.ClaimFromReceipt(id, rc, amount, currency, per, quantity, rc.IssuedAt)
	claim.Share = share
	if claim.Token, err = ledger.IssueClaim(key, claim); err != nil {
		return nil, fmt.Errorf("sign claim: %w", err)
	}
	return &claim, nil
}

func insertClaim(ctx context.Context, tx *sql.Tx, c *ledger.Claim) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO claims (id, receipt_id, job_id, consent_id, requester, amount, currency, per, quantity, token, state, created_at, share, vault)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.ReceiptID, c.JobID, c.ConsentID, c.Requester, c.Amount, c.Currency, c.Per, c.Quantity, c.Token, c.State, formatTime(c.CreatedAt), c.Share, c.Vault)
	return err
}

// Claims lists every compensation claim, newest first.
func (v *Vault) Claims(ctx context.Context) ([]ledger.Claim, error) {
	return v.claims(ctx, v.db, "")
}

// Claim returns one claim by id.
func (v *Vault) Claim(ctx context.Context, id string) (*ledger.Claim, error) {
	return v.claim(ctx, v.db, id)
}

func (v *Vault) claim(ctx context.Context, q queryer, id string) (*ledger.Claim, error) {
	cs, err := v.claims(ctx, q, `WHERE claims.id = ?`, id)
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, trove.Errorf(trove.ENOTFOUND, "no claim %q", id)
	}
	return &cs[0], nil
}

func (v *Vault) claims(ctx context.Context, q queryer, where string, args ...any) ([]ledger.Claim, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, receipt_id, job_id, consent_id, requester, amount, currency, per, quantity, token,
		state, response, reason, responded_at, created_at, share, settled, contribution, vault
		FROM claims `+where+` ORDER BY created_at DESC, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list claims: %w", err)
	}
	defer rows.Close()
	var out []ledger.Claim
	for rows.Next() {
		var c ledger.Claim
		var created string
		var responded sql.NullString
		var settled sql.NullInt64
		if err := rows.Scan(&c.ID, &c.ReceiptID, &c.JobID, &c.ConsentID, &c.Requester, &c.Amount, &c.Currency, &c.Per, &c.Quantity, &c.Token,
			&c.State, &c.Response, &c.Reason, &responded, &created, &c.Share, &settled, &c.Contribution, &c.Vault); err != nil {
			return nil, fmt.Errorf("list claims: %w", err)
		}
		if settled.Valid {
			c.Settled = &settled.Int64
		}
		if c.CreatedAt, err = parseTime(created); err != nil {
			return nil, err
		}
		if responded.Valid {
			t, err := parseTime(responded.String)
			if err != nil {
				return nil, err
			}
			c.RespondedAt = &t
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// RespondClaim records a requester's signed answer to claim id: an
// acknowledgement, a dispute with a reason, or a settlement with a
// Contribution credential (ledger.ClaimResponse). The response must
// verify, be by the claim's requester, to this vault, for this claim and
// exactly its receipts, and carry the action the caller expects
// (ledger.Acknowledge, ledger.Dispute or ledger.Settle). A claim under the
// share rule cannot be acknowledged at its provisional amount (reason
// settlement_required): it is settled (see settle) or disputed; only such
// a claim is settled. A claim is answered once; answering it again with
// the very same response returns it as it is. The answer and its log
// entry commit together; the log carries the response's digest and the
// reason's, not the reason itself.
func (v *Vault) RespondClaim(ctx context.Context, id, action, token string) (*ledger.Claim, error) {
	r, err := ledger.VerifyClaimResponse(token)
	if err != nil {
		return nil, &trove.Error{Code: trove.EFORBIDDEN, Reason: "bad_response", Message: "the claim response does not verify", Err: err}
	}
	if r.Action != action {
		return nil, trove.Errorf(trove.EINVALID, "the response is a %s, not a %s", r.Action, action)
	}
	now := v.now()
	respSum := sha256.Sum256([]byte(token))
	reasonSum := sha256.Sum256([]byte(r.Reason))
	var out *ledger.Claim
	err = v.write(ctx, func(tx *sql.Tx) error {
		c, err := v.claim(ctx, tx, id)
		if err != nil {
			return err
		}
		if r.Vault != c.Vault || r.ClaimID != c.ID || r.Requester != c.Requester || !slices.Equal(r.ReceiptIDs, []string{c.ReceiptID}) {
			return &trove.Error{Code: trove.EFORBIDDEN, Reason: "wrong_claim", Message: "the response is not by this claim's requester, for this vault, this claim and its receipts"}
		}
		if c.State != ledger.ClaimOwed {
			if c.Response == token {
				out = c
				return nil
			}
			return &trove.Error{Code: trove.ECONFLICT, Reason: "claim_answered", Message: fmt.Sprintf("the claim is already %s", c.State)}
		}
		switch {
		case action == ledger.Acknowledge && c.Share != "":
			return &trove.Error{Code: trove.ECONFLICT, Reason: "settlement_required",
				Message: "the claim is under the share rule: its amount is provisional; settle it with the round's Contribution credential, or dispute it"}
		case action == ledger.Settle && c.Share == "":
			return &trove.Error{Code: trove.ECONFLICT, Reason: "no_share_rule", Message: "the claim is not under a share rule: acknowledge or dispute it"}
		case action == ledger.Settle:
			if err := v.settle(ctx, tx, c, r, token, now); err != nil {
				return err
			}
			out = c
			return nil
		}
		state, event := ledger.ClaimStateAcknowledged, ledger.ClaimAcknowledged
		fields := map[string]string{"claim_id": c.ID, "response_sha256": hex.EncodeToString(respSum[:])}
		if action == ledger.Dispute {
			state, event = ledger.ClaimStateDisputed, ledger.ClaimDisputed
			fields["reason_sha256"] = hex.EncodeToString(reasonSum[:])
		}
		if _, err := tx.ExecContext(ctx, `UPDATE claims SET state = ?, response = ?, reason = ?, responded_at = ? WHERE id = ? AND state = 'owed'`,
			state, token, r.Reason, formatTime(now), c.ID); err != nil {
			return err
		}
		if _, err := v.appendLog(ctx, tx, ledger.Entry{Type: event, Time: now, Subject: c.Requester, Fields: fields}); err != nil {
			return err
		}
		c.State, c.Response, c.Reason, c.RespondedAt = state, token, r.Reason, &now
		out = c
		return nil
	})
	if err != nil {
		var te *trove.Error
		if !errors.As(err, &te) {
			return nil, fmt.Errorf("respond to claim %s: %w", id, err)
		}
		return nil, err
	}
	return out, nil
}
