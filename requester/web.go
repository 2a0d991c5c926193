package requester

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/api"
	"github.com/trove-project/trove/did"
)

// WebBinding is a vault's did:web verified to vouch for its did:key: the
// document served under the domain (so vouched for by the domain's TLS
// certificate) names the did:key first in alsoKnownAs and lists its key
// for assertions. The requester keeps it in its home, web/, by did:web.
type WebBinding struct {
	WebDID     string    `json:"web_did"`
	VaultDID   string    `json:"vault_did"` // the did:key the vault answers as
	VerifiedAt time.Time `json:"verified_at"`
}

// The reasons a did:web binding is refused for.
const (
	// ReasonWebInvalid: not a did:web identifier, or a malformed document
	// (EINVALID).
	ReasonWebInvalid = "did_web_invalid"
	// ReasonWebUnresolvable: the document could not be fetched over
	// HTTPS within the limits — network, redirect, a status other than
	// 200, oversized, not HTTPS (EUNAVAILABLE).
	ReasonWebUnresolvable = "did_web_unresolvable"
	// ReasonWebMismatch: the document does not vouch for the vault's
	// did:key, or is about another DID (EFORBIDDEN).
	ReasonWebMismatch = "did_web_mismatch"
	// ReasonWebRetired: the vault answers under a did:key the document
	// still lists, but not first: a key retired by a rotation (EFORBIDDEN).
	ReasonWebRetired = "did_web_retired"
)

// CheckWebDID refuses, with reason did_web_invalid, an identifier that is
// not a did:web: the check to make before anything is sent.
func CheckWebDID(webDID string) error {
	if _, err := did.WebURL(webDID, false); err != nil {
		return &trove.Error{Code: trove.EINVALID, Reason: ReasonWebInvalid, Message: fmt.Sprintf("%q is not a did:web identifier", webDID), Err: err}
	}
	return nil
}

// BindWeb resolves webDID with the requester's own resolver (HTTPS only,
// 5 s timeout, 64 KiB, no redirects, a 5-minute cache) and checks that its
// document is about webDID, names vaultDID — the did:key the vault says it
// is, in its catalog — first in alsoKnownAs, and lists vaultDID's key as
// an assertion method. When a binding is kept for webDID under another
// did:key, vaultDID must be that did:key's successor through the rotation
// chain the vault behind c serves, verified (FollowRotation). It then
// keeps the binding in the home. Each refusal is a *trove.Error with one
// of the Reason* reasons (or, for a rotation that does not verify,
// bad_rotation or log_rewritten), and keeps nothing.
func (r *Requester) BindWeb(ctx context.Context, c *api.Client, webDID, vaultDID string) (*WebBinding, error) {
	if err := CheckWebDID(webDID); err != nil {
		return nil, err
	}
	res, err := r.resolver.Resolve(ctx, webDID)
	switch {
	case errors.Is(err, did.ErrOtherDID):
		return nil, &trove.Error{Code: trove.EFORBIDDEN, Reason: ReasonWebMismatch, Message: fmt.Sprintf("the DID document of %s is about another DID", webDID), Err: err}
	case errors.Is(err, did.ErrInvalid):
		return nil, &trove.Error{Code: trove.EINVALID, Reason: ReasonWebInvalid, Message: fmt.Sprintf("the DID document of %s is malformed", webDID), Err: err}
	case err != nil:
		return nil, &trove.Error{Code: trove.EUNAVAILABLE, Reason: ReasonWebUnresolvable, Message: fmt.Sprintf("cannot fetch the DID document of %s (HTTPS only, no redirects, at most 64 KiB within 5 s)", webDID), Err: err}
	}
	if err := vouches(res, vaultDID); err != nil {
		return nil, err
	}
	name := webBindingFile(webDID)
	var kept WebBinding
	switch err := r.loadJSON(name, &kept); {
	case err == nil && kept.WebDID != webDID:
		return nil, fmt.Errorf("the binding kept for %s in %s is about %q", webDID, name, kept.WebDID)
	case err == nil:
		if err := r.sameVault(ctx, c, &kept, vaultDID); err != nil {
			return nil, err
		}
	case trove.ErrorCode(err) != trove.ENOTFOUND:
		return nil, fmt.Errorf("read the kept binding of %s: %w", webDID, err)
	}
	b := &WebBinding{WebDID: webDID, VaultDID: vaultDID, VerifiedAt: r.now().UTC()}
	if err := r.saveJSON(name, b); err != nil {
		return nil, fmt.Errorf("keep the binding of %s: %w", webDID, err)
	}
	return b, nil
}

// vouches checks that a resolved did:web document vouches for vaultDID:
// it names vaultDID first in alsoKnownAs (later entries are did:keys the
// owner retired) and one of its assertion keys is vaultDID's key.
func vouches(res *did.Resolved, vaultDID string) error {
	mismatch := func(msg string) error {
		return &trove.Error{Code: trove.EFORBIDDEN, Reason: ReasonWebMismatch, Message: msg}
	}
	pub, err := did.PublicKey(vaultDID)
	if err != nil {
		return mismatch(fmt.Sprintf("the vault answers as %q, which is not a did:key", vaultDID))
	}
	switch i := slices.Index(res.AlsoKnownAs, vaultDID); {
	case i < 0:
		return mismatch(fmt.Sprintf("the DID document of %s does not name the vault's DID %s", res.ID, vaultDID))
	case i > 0:
		return &trove.Error{Code: trove.EFORBIDDEN, Reason: ReasonWebRetired,
			Message: fmt.Sprintf("the DID document of %s names %s as the current DID; the vault answers as %s, a DID it retired", res.ID, res.AlsoKnownAs[0], vaultDID)}
	}
	for _, a := range res.Assertions {
		if res.Keys[a].Equal(pub) {
			return nil
		}
	}
	return mismatch(fmt.Sprintf("the DID document of %s names %s but does not list its key for assertions", res.ID, vaultDID))
}

// sameVault checks a fresh binding against the one kept for the same
// did:web. A different did:key means the owner rotated the vault's key
// since the binding was kept, or the domain now serves another vault: the
// new did:key is accepted only as a successor of the kept one through the
// vault's rotation chain (GET /v1/did/rotations), verified against the
// checkpoints kept from the vault.
func (r *Requester) sameVault(ctx context.Context, c *api.Client, kept *WebBinding, vaultDID string) error {
	if kept.VaultDID == vaultDID {
		return nil
	}
	if err := r.ensureSuccessor(ctx, c, kept.VaultDID, vaultDID); err != nil {
		var te *trove.Error
		if errors.As(err, &te) && (te.Reason == "bad_rotation" || te.Reason == "log_rewritten") {
			return &trove.Error{Code: te.Code, Reason: te.Reason, Err: err,
				Message: fmt.Sprintf("%s vouched for %s when first verified (%s) and now for %s, which the vault's rotation chain does not show to be its successor: %s",
					kept.WebDID, kept.VaultDID, kept.VerifiedAt.Format(time.RFC3339), vaultDID, te.Message)}
		}
		return err
	}
	return nil
}

// webBindingFile names the file a did:web's binding is kept in: readable,
// and made unique by a hash (fileSafe maps both "." and ":" to "_").
func webBindingFile(webDID string) string {
	sum := sha256.Sum256([]byte(webDID))
	return filepath.Join("web", fileSafe(webDID)+"_"+hex.EncodeToString(sum[:8])+".json")
}
