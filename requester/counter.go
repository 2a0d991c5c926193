package requester

import (
	"context"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/api"
	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/vault"
)

// CounterOffer returns the vault's counter-offer on request id, verified:
// signed by the vault, addressed to this requester, about this request
// (by the hash of the request this requester signed).
func (r *Requester) CounterOffer(ctx context.Context, c *api.Client, id string) (*consent.Counter, error) {
	c = r.Signed(c)
	p, err := r.Request(id)
	if err != nil {
		return nil, err
	}
	st, err := c.ConsentRequest(ctx, id)
	if err != nil {
		return nil, err
	}
	if st.State != vault.Countered || st.CounterOffer == "" {
		return nil, trove.Errorf(trove.ECONFLICT, "request %s is %s, with no counter-offer", id, st.State)
	}
	co, err := consent.VerifyCounter(st.CounterOffer, p.Vault, r.DID(), r.now())
	if consent.CodeOf(err) == consent.ErrIssuerMismatch {
		// After a key rotation the vault counters under a successor of the
		// DID the request went to: accepted through the verified chain.
		if co, err = r.counterBySuccessor(ctx, c, st.CounterOffer, p.Vault); err != nil {
			return nil, err
		}
	}
	if err != nil {
		return nil, &trove.Error{Code: trove.EFORBIDDEN, Reason: string(consent.CodeOf(err)), Message: "the counter-offer does not verify", Err: err}
	}
	if co.RequestID != id || (p.Token != "" && co.RequestHash != consent.TokenHash(p.Token)) ||
		co.Terms.Dataset != p.Dataset || co.Terms.Algorithm != p.Algorithm {
		return nil, trove.Errorf(trove.EFORBIDDEN, "the counter-offer is not about the request this requester sent")
	}
	return co, nil
}

// counterBySuccessor verifies a counter-offer signed by a DID that
// succeeded vaultDID, following the vault's rotation chain if needed.
func (r *Requester) counterBySuccessor(ctx context.Context, c *api.Client, token, vaultDID string) (*consent.Counter, error) {
	var co *consent.Counter
	_, err := r.findSuccessor(ctx, c, vaultDID, func(id string) bool {
		var err error
		co, err = consent.VerifyCounter(token, id, r.DID(), r.now())
		return err == nil
	})
	return co, err
}

// AnswerCounter signs and sends this requester's answer (consent.Accept or
// consent.Decline) to the counter-offer on request id. Once accepted, the
// credential is fetched and kept as RequestStatus does.
func (r *Requester) AnswerCounter(ctx context.Context, c *api.Client, id, answer string) (*api.ConsentRequestStatus, *consent.Credential, error) {
	c = r.Signed(c)
	co, err := r.CounterOffer(ctx, c, id)
	if err != nil {
		return nil, nil, err
	}
	reply, err := consent.SignReply(r.key, co, answer, r.now())
	if err != nil {
		return nil, nil, err
	}
	st, err := c.AnswerCounter(ctx, id, reply)
	if err != nil {
		return nil, nil, err
	}
	if st.State != vault.Approved {
		return st, nil, nil
	}
	return r.RequestStatus(ctx, c, id)
}
