package consent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"time"
)

// Limits on a presentation.
const (
	// MaxPresentationTTL is the longest a presentation may be valid.
	MaxPresentationTTL = 10 * time.Minute
	// MaxNonceLen is the longest nonce, in bytes.
	MaxNonceLen = 256
)

// Presentation is a verified presentation of a Consent credential.
type Presentation struct {
	Holder     string // the presenter's DID (iss), the credential's subject
	Nonce      string // the vault's single-use challenge; the vault checks it is unused
	ID         string // jti
	Credential *Credential
}

type vpClaim struct {
	Context              []string `json:"@context"`
	Type                 []string `json:"type"`
	VerifiableCredential []string `json:"verifiableCredential"`
}

// Present returns a VP-JWT, signed by holder, that presents credentialJWT
// to the vault whose DID is audience, bound to nonce, valid from now for
// ttl (at most MaxPresentationTTL). The credential is verified first, and
// holder must be its subject.
func Present(holder Signer, credentialJWT, nonce, audience string, now time.Time, ttl time.Duration) (string, error) {
	switch {
	case nonce == "" || len(nonce) > MaxNonceLen:
		return "", refuseField(ErrBadToken, "nonce", "must be 1 to 256 bytes")
	case audience == "":
		return "", refuseField(ErrWrongAudience, "aud", "missing")
	case ttl <= 0 || ttl > MaxPresentationTTL:
		return "", refuseField(ErrBadToken, "exp", "the lifetime must be positive and at most 10 minutes")
	}
	cred, err := VerifyCredential(credentialJWT, now)
	if err != nil {
		return "", err
	}
	if cred.Subject != holder.DID() {
		return "", refuse(ErrHolderNotSubject, "the holder is not the credential's subject")
	}
	iat := now.UTC().Truncate(time.Second)
	// The id is derived rather than drawn at random: the nonce already
	// makes each presentation unique.
	sum := sha256.Sum256([]byte(holder.DID() + "\n" + audience + "\n" + nonce))
	return sign(holder, TypeJWT, map[string]any{
		"iss":   holder.DID(),
		"aud":   audience,
		"nonce": nonce,
		"jti":   "urn:trove:vp:" + hex.EncodeToString(sum[:16]),
		"iat":   numericDate(iat),
		"nbf":   numericDate(iat),
		"exp":   numericDate(iat.Add(ttl)),
		"vp": vpClaim{
			Context:              []string{CredentialsContext},
			Type:                 []string{"VerifiablePresentation"},
			VerifiableCredential: []string{credentialJWT},
		},
	})
}

// VerifyPresentation verifies a VP-JWT presented to the vault whose DID is
// audience: the strict path on the presentation (signed by its holder in
// iss, exp required), aud naming audience, a non-empty nonce, a vp claim
// holding exactly one credential as a JWT string (a JSON credential is
// refused: it would carry no owner signature), that credential verified by
// VerifyCredential and issued for this vault, and the holder its subject.
func VerifyPresentation(token, audience string, now time.Time) (*Presentation, error) {
	return verifyPresentation(context.Background(), didKeys{}, verifyCredential, token, audience, now, nil)
}

// credentialVerifier verifies a credential: verifyCredential, or a
// Verifier's cached path.
type credentialVerifier func(ctx context.Context, keys KeyResolver, token string, now time.Time) (*Credential, error)

// formerVaults are earlier DIDs of the audience (a vault whose owner key
// was rotated): a credential issued for one of them is still for this
// vault, though the presentation must be addressed to its current DID.
func verifyPresentation(ctx context.Context, keys KeyResolver, verifyCred credentialVerifier, token, audience string, now time.Time, formerVaults []string) (*Presentation, error) {
	c, err := verifyCompactWith(ctx, keys, token, TypeJWT, now, Skew)
	if err != nil {
		return nil, err
	}
	if !c.hasAudience(audience) {
		return nil, refuseField(ErrWrongAudience, "aud", "the presentation is addressed to another vault")
	}
	if c.exp.IsZero() {
		return nil, refuseField(ErrBadToken, "exp", "a presentation must expire")
	}
	nonce, _, ok := c.all.str("nonce")
	if !ok || nonce == "" || len(nonce) > MaxNonceLen {
		return nil, refuseField(ErrBadToken, "nonce", "missing, or not a string of 1 to 256 bytes")
	}
	vp, present, ok := c.all.object("vp")
	if !present || !ok {
		return nil, refuseField(ErrBadToken, "vp", "missing or not an object")
	}
	lctx, _, ok := vp.strings("@context", true)
	if !ok || len(lctx) == 0 || lctx[0] != CredentialsContext {
		return nil, refuseField(ErrBadToken, "vp.@context", "must start with "+CredentialsContext)
	}
	types, _, ok := vp.strings("type", true)
	if !ok || !slices.Contains(types, "VerifiablePresentation") {
		return nil, refuseField(ErrBadToken, "vp.type", "must include VerifiablePresentation")
	}
	if h, present, ok := vp.str("holder"); present && (!ok || h != c.iss) {
		return nil, refuseField(ErrIssuerMismatch, "vp.holder", "differs from iss")
	}
	creds, _, ok := vp.strings("verifiableCredential", true)
	if !ok {
		return nil, refuseField(ErrBadToken, "vp.verifiableCredential", "each credential must be a JWT string")
	}
	if len(creds) != 1 {
		return nil, refuseField(ErrBadToken, "vp.verifiableCredential", "must hold exactly one credential")
	}
	cred, err := verifyCred(ctx, keys, creds[0], now)
	if err != nil {
		return nil, err
	}
	if cred.Terms.Vault != audience && !slices.Contains(formerVaults, cred.Terms.Vault) {
		return nil, refuseField(ErrWrongAudience, "credentialSubject.vault", "the credential is for another vault")
	}
	if cred.Subject != c.iss {
		return nil, refuse(ErrHolderNotSubject, "the holder is not the credential's subject")
	}
	return &Presentation{Holder: c.iss, Nonce: nonce, ID: c.jti, Credential: cred}, nil
}
