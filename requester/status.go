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
// "revoked"; a list that cannot tell gives reason "status_unknown".
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
	if err := l.Check(cred); err != nil {
		return &trove.Error{Code: trove.EFORBIDDEN, Reason: string(consent.CodeOf(err)), Message: err.Error(), Err: err}
	}
	return nil
}
