package vault

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/ledger"
)

// Countered is the state of a request the owner answered with a
// counter-offer that waits for the requester.
const Countered = "countered"

// Narrowing is how an owner narrows a request in a counter-offer. Zero
// fields keep what was asked.
type Narrowing struct {
	MaxRuns   int
	ExpiresAt time.Time
	Columns   []string
	Output    *consent.OutputPolicy
	Price     int64 // a higher amount, same currency and unit
}

// Counter answers a pending request with narrower terms, signed by the
// owner and logged. The request waits for the requester to accept (then
// the credential is issued for those terms) or decline.
func (v *Vault) Counter(ctx context.Context, id string, n Narrowing) (*ConsentRequest, error) {
	now := v.now()
	err := v.write(ctx, func(tx *sql.Tx) error {
		r, err := v.pendingRequest(ctx, tx, id)
		if err != nil {
			return err
		}
		asked, err := v.requestTerms(ctx, tx, r)
		if err != nil {
			return err
		}
		offered, end := asked, r.ExpiresAt
		offered.Columns = append([]string(nil), asked.Columns...)
		if n.MaxRuns != 0 {
			offered.MaxRuns = n.MaxRuns
		}
		if !n.ExpiresAt.IsZero() {
			end = n.ExpiresAt.UTC().Truncate(time.Second)
		}
		if len(n.Columns) > 0 {
			offered.Columns = n.Columns
		}
		if n.Output != nil {
			offered.Output = *n.Output
		}
		if n.Price != 0 {
			offered.Price.Amount = n.Price
		}
		if err := consent.CheckNarrower(asked, r.ExpiresAt, offered, end, asked.Columns); err != nil {
			return &trove.Error{Code: trove.EINVALID, Reason: "not_narrower", Message: err.Error(), Err: err}
		}
		if !end.After(now) {
			return trove.Errorf(trove.EINVALID, "the consent offered must end in the future")
		}
		var requestToken string
		if err := tx.QueryRowContext(ctx, `SELECT token FROM consent_requests WHERE id = ?`, id).Scan(&requestToken); err != nil {
			return err
		}
		counterID, err := v.newID("ctr")
		if err != nil {
			return err
		}
		offered.DatasetDigest = ""
		tok, err := consent.SignCounter(v.signer(), consent.Counter{
			ID: counterID, Requester: r.Requester, RequestID: id, RequestHash: consent.TokenHash(requestToken),
			Terms: offered, ExpiresAt: end,
		}, now)
		if err != nil {
			return &trove.Error{Code: trove.EINVALID, Reason: consentReason(err), Message: err.Error(), Err: err}
		}
		terms, err := json.Marshal(offered)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO counter_offers (id, request_id, token, terms, expires_at, state, created_at)
			VALUES (?, ?, ?, ?, ?, 'open', ?)`, counterID, id, tok, string(terms), formatTime(end), formatTime(now)); err != nil {
			return err
		}
		_, err = v.appendLog(ctx, tx, ledger.Entry{
			Type: ledger.RequestCountered, Time: now, Subject: r.Requester,
			Fields: map[string]string{"request_id": id, "counter_id": counterID, "counter_sha256": consent.TokenHash(tok), "by": "owner"},
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return v.ConsentRequest(ctx, id)
}

// VerifyReply verifies a requester's reply to a counter-offer addressed
// to any of ownerDIDs, the DIDs a vault has had (current first): a
// counter-offer made before a key rotation is answered to the DID that
// made it. The reply names the counter-offer by its hash, so it cannot
// stand for another. With no DID it refuses every reply.
func VerifyReply(token string, ownerDIDs []string, now time.Time) (*consent.Reply, error) {
	err := errors.New("verify reply: no DID it could be addressed to")
	for _, id := range ownerDIDs {
		var r *consent.Reply
		if r, err = consent.VerifyReply(token, id, now); consent.CodeOf(err) != consent.ErrWrongAudience {
			return r, err
		}
	}
	return nil, err
}

// AnswerCounter takes the requester's signed answer to the open
// counter-offer on request id. Accepting issues the credential for the
// offered terms; declining closes the request as denied. Both are logged.
func (v *Vault) AnswerCounter(ctx context.Context, id, token string) (*ConsentRequest, error) {
	now := v.now()
	reply, err := VerifyReply(token, v.OwnerDIDs(), now)
	if err != nil {
		return nil, &trove.Error{Code: trove.EFORBIDDEN, Reason: consentReason(err), Message: err.Error(), Err: err}
	}
	err = v.write(ctx, func(tx *sql.Tx) error {
		r, err := v.consentRequest(ctx, tx, id)
		if err != nil {
			return err
		}
		if r.Requester != reply.Requester {
			return &trove.Error{Code: trove.EFORBIDDEN, Reason: "not_requester", Message: "only the requester may answer its counter-offer"}
		}
		if r.State != Countered {
			return trove.Errorf(trove.ECONFLICT, "request %s has no counter-offer waiting for an answer", id)
		}
		var counterID, counterTok, termsJSON, endS string
		err = tx.QueryRowContext(ctx, `SELECT id, token, terms, expires_at FROM counter_offers WHERE request_id = ? AND state = 'open'`, id).
			Scan(&counterID, &counterTok, &termsJSON, &endS)
		if err != nil {
			return fmt.Errorf("counter-offer for %s: %w", id, err)
		}
		if reply.CounterID != counterID || reply.CounterHash != consent.TokenHash(counterTok) {
			return &trove.Error{Code: trove.EFORBIDDEN, Reason: "wrong_counter", Message: "the answer is not about the counter-offer waiting"}
		}
		state := "declined"
		if reply.Answer == consent.Accept {
			state = "accepted"
		}
		if _, err := tx.ExecContext(ctx, `UPDATE counter_offers SET state = ?, reply = ?, decided_at = ? WHERE id = ?`,
			state, token, formatTime(now), counterID); err != nil {
			return err
		}
		who := decider{by: "requester", fields: map[string]string{"by": "requester", "counter_id": counterID}}
		typ := ledger.CounterDeclined
		if reply.Answer == consent.Accept {
			typ = ledger.CounterAccepted
		}
		if _, err := v.appendLog(ctx, tx, ledger.Entry{
			Type: typ, Time: now, Subject: r.Requester,
			Fields: map[string]string{"request_id": id, "counter_id": counterID, "reply_sha256": consent.TokenHash(token)},
		}); err != nil {
			return err
		}
		if reply.Answer != consent.Accept {
			return v.deny(ctx, tx, r, now, who)
		}
		var offered consent.Terms
		if err := json.Unmarshal([]byte(termsJSON), &offered); err != nil {
			return fmt.Errorf("stored counter terms: %w", err)
		}
		current, err := v.requestTerms(ctx, tx, r)
		if err != nil {
			return err
		}
		// The credential is issued now, by the owner's current DID, which
		// it names as the vault even for an offer made before a rotation.
		offered.DatasetDigest, offered.Vault = current.DatasetDigest, current.Vault
		for _, c := range offered.Columns {
			if !slices.Contains(current.Columns, c) {
				return trove.Errorf(trove.ECONFLICT, "dataset %s no longer has the columns offered", r.Dataset)
			}
		}
		if r.ExpiresAt, err = parseTime(endS); err != nil {
			return err
		}
		return v.approve(ctx, tx, r, offered, now, who)
	})
	if err != nil {
		return nil, err
	}
	return v.ConsentRequest(ctx, id)
}
