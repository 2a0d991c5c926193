package requester

import (
	"context"
	"net/url"
	"strings"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/api"
	"github.com/trove-project/trove/consent"
)

// CheckStatus tells whether a Consent credential is still in force: it
// fetches the credential's status list from the vault behind c (never from
// the URL the credential names, which could point anywhere), verifies the
// list's signature by the credential's issuer and reads the credential's
// bit. A revoked credential gives an EFORBIDDEN error with reason
// "revoked"; a list that cannot tell gives reason "status_unknown". After
// the vault's key rotation the list is signed by its new DID: it is
// accepted for a credential issued under an earlier one only through the
// verified rotation chain (FollowRotation), and a list signed by a DID the
// requester knows is retired is refused (reason "retired_key").
func (r *Requester) CheckStatus(ctx context.Context, c *api.Client, credential string) error {
	cred, err := consent.VerifyCredential(credential, r.now())
	if err != nil {
		return &trove.Error{Code: trove.EFORBIDDEN, Reason: string(consent.CodeOf(err)), Message: "the credential does not verify", Err: err}
	}
	var list string
	u, err := url.Parse(cred.Status.ListCredential)
	ok := err == nil
	if ok {
		list, ok = strings.CutPrefix(u.Path, "/v1/status/")
	}
	if !ok || list == "" || strings.Contains(list, "/") {
		return &trove.Error{Code: trove.EFORBIDDEN, Reason: string(consent.ErrStatusUnknown), Message: "the credential's status list is not a trove vault's"}
	}
	tok, err := c.StatusList(ctx, list)
	if err != nil {
		return err
	}
	l, err := consent.VerifyStatusList(tok, r.now())
	if err != nil {
		return &trove.Error{Code: trove.EFORBIDDEN, Reason: string(consent.ErrStatusUnknown), Message: "the vault's status list does not verify", Err: err}
	}
	// A list signed by a DID the vault has retired could be anyone's
	// holding the old key; a list by a successor of the credential's
	// issuer speaks for it only through the verified rotation chain.
	if retired, err := r.retired(l.Issuer); err != nil {
		return err
	} else if retired {
		return &trove.Error{Code: trove.EFORBIDDEN, Reason: "retired_key", Message: "the status list is signed by a DID the vault has retired"}
	}
	if err := r.ensureSuccessor(ctx, c, cred.Issuer, l.Issuer); err != nil {
		return err
	}
	if err := l.CheckFor(cred, l.Issuer); err != nil {
		return &trove.Error{Code: trove.EFORBIDDEN, Reason: string(consent.CodeOf(err)), Message: err.Error(), Err: err}
	}
	return nil
}
