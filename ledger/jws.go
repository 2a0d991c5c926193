package ledger

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/trove-project/trove/did"
)

// signCompact signs payload as a compact JWS: EdDSA, with the signer's
// key id and typ JWT in the protected header.
func signCompact(s Signer, payload []byte) (string, error) {
	return signCompactTyp(s, payload, "JWT")
}

// signCompactTyp is signCompact with another typ.
func signCompactTyp(s Signer, payload []byte, typ string) (string, error) {
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.KeyIDKey, s.KeyID()); err != nil {
		return "", err
	}
	if err := hdr.Set(jws.TypeKey, typ); err != nil {
		return "", err
	}
	token, err := jws.Sign(payload, jws.WithKey(jwa.EdDSA(), cryptoSigner{s}, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", err
	}
	return string(token), nil
}

// compactPayload decodes the payload of a compact JWS, unverified, so
// that the signer it names can be looked up before verifying.
func compactPayload(token, what string) ([]byte, error) {
	if len(token) > maxJWSSize {
		return nil, fmt.Errorf("%s JWS: %d bytes, limit %d: %w", what, len(token), maxJWSSize, ErrTooLarge)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%s JWS: %d parts, want 3: %w", what, len(parts), ErrMalformed)
	}
	payload, err := decodeBase64(base64.RawURLEncoding, parts[1])
	if err != nil {
		return nil, fmt.Errorf("%s JWS payload: %w: %w", what, ErrMalformed, err)
	}
	return payload, nil
}

// verifyCompact verifies a compact JWS by signerDID's Ed25519 key pub and
// returns its payload. Every part is decoded strictly before the
// signature is checked, so one token has one encoding: the header may
// carry only alg (EdDSA), kid (a key of signerDID) and typ (JWT).
func verifyCompact(token, what, signerDID string, pub ed25519.PublicKey) ([]byte, error) {
	return verifyCompactTyp(token, what, "", signerDID, pub)
}

// verifyCompactTyp is verifyCompact for a token whose typ must be typ
// (present and exactly typ); typ "" means absent or JWT.
func verifyCompactTyp(token, what, typ, signerDID string, pub ed25519.PublicKey) ([]byte, error) {
	if len(token) > maxJWSSize {
		return nil, fmt.Errorf("%s JWS: %d bytes, limit %d: %w", what, len(token), maxJWSSize, ErrTooLarge)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%s JWS: %d parts, want 3: %w", what, len(parts), ErrMalformed)
	}
	hdrJSON, err := decodeBase64(base64.RawURLEncoding, parts[0])
	if err != nil {
		return nil, fmt.Errorf("%s JWS header: %w: %w", what, ErrMalformed, err)
	}
	var hdr jwsHeader
	if err := decodeStrict(hdrJSON, &hdr, jwsHeaderKeys...); err != nil {
		return nil, fmt.Errorf("%s JWS header: %w: %w", what, ErrMalformed, err)
	}
	if hdr.Alg != jwa.EdDSA().String() {
		return nil, fmt.Errorf("%s JWS: algorithm %q, only EdDSA is accepted: %w", what, short(hdr.Alg), ErrBadSignature)
	}
	switch {
	case typ == "" && hdr.Typ != nil && *hdr.Typ != "JWT":
		return nil, fmt.Errorf("%s JWS: typ %q: %w", what, short(*hdr.Typ), ErrMalformed)
	case typ != "" && (hdr.Typ == nil || *hdr.Typ != typ):
		return nil, fmt.Errorf("%s JWS: typ is not %s: %w", what, typ, ErrMalformed)
	}
	if hdr.Kid != nil {
		base, _, _ := strings.Cut(*hdr.Kid, "#")
		if _, err := did.PublicKey(*hdr.Kid); err != nil || base != signerDID {
			return nil, fmt.Errorf("%s JWS: kid %q is not a key of %s: %w", what, short(*hdr.Kid), short(signerDID), ErrWrongVault)
		}
	}
	payload, err := decodeBase64(base64.RawURLEncoding, parts[1])
	if err != nil {
		return nil, fmt.Errorf("%s JWS payload: %w: %w", what, ErrMalformed, err)
	}
	sig, err := decodeBase64(base64.RawURLEncoding, parts[2])
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%s JWS signature: not %d bytes of base64url: %w", what, ed25519.SignatureSize, ErrMalformed)
	}
	if _, err := jws.VerifyCompactFast(pub, []byte(token), jwa.EdDSA()); err != nil {
		return nil, fmt.Errorf("%s JWS: not signed by %s: %w: %w", what, short(signerDID), ErrBadSignature, err)
	}
	return payload, nil
}
