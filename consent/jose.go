package consent

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/trove-project/trove/did"
)

// MaxTokenSize is the largest token, in bytes, that is looked at.
const MaxTokenSize = 64 << 10

// Skew is the clock difference tolerated when nbf, iat and exp are
// compared with the verifier's clock.
const Skew = 60 * time.Second

// Token types (the JWS typ header). Credentials and presentations use JWT,
// as the VC-JWT format and other implementations do (a missing typ is taken
// for JWT); a consent request has a type of its own, so that no request can
// pass for a credential or a presentation, nor the reverse.
const (
	TypeJWT     = "JWT"
	TypeRequest = "trove-request+jwt"
)

// KeyResolver finds the Ed25519 key a DID asserts with: the key named by
// kid (a DID URL of that DID) or, when kid is empty, the DID's only
// assertion key. *did.Resolver satisfies it.
type KeyResolver interface {
	AssertionKey(ctx context.Context, did, kid string) (ed25519.PublicKey, error)
}

// didKeys resolves did:key identifiers only, offline.
type didKeys struct{}

func (didKeys) AssertionKey(_ context.Context, id, kid string) (ed25519.PublicKey, error) {
	pub, err := did.PublicKey(id)
	if err != nil {
		return nil, &Error{Code: ErrBadToken, Field: "iss", Msg: "not a usable DID", Err: did.ErrInvalid}
	}
	if kid != "" {
		kpub, err := did.PublicKey(kid)
		if err != nil || !kpub.Equal(pub) {
			return nil, refuseField(ErrIssuerMismatch, "kid", "does not name the issuer's key")
		}
	}
	return pub, nil
}

// Signer signs tokens for a DID. *did.Key satisfies it.
type Signer interface {
	// DID returns the signer's DID, which goes into iss.
	DID() string
	// KeyID returns the DID URL of the signing key, which goes into kid.
	KeyID() string
	// Sign returns the Ed25519 signature of msg.
	Sign(msg []byte) []byte
}

var b64 = base64.RawURLEncoding.Strict()

// sign returns the compact JWS of claims, signed by s, with header
// {"alg":"EdDSA","typ":typ,"kid":s.KeyID()}.
func sign(s Signer, typ string, claims any) (string, error) {
	iss, kid := s.DID(), s.KeyID()
	if _, err := did.PublicKey(iss); err != nil && !strings.HasPrefix(iss, "did:web:") {
		return "", &Error{Code: ErrBadToken, Field: "iss", Msg: "signer's DID is not usable", Err: err}
	}
	if !strings.HasPrefix(kid, iss+"#") {
		return "", refuseField(ErrIssuerMismatch, "kid", "signer's key id is not a DID URL of its DID")
	}
	header, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
		Kid string `json:"kid"`
	}{"EdDSA", typ, kid})
	if err != nil {
		return "", fmt.Errorf("encode header: %w", err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encode claims: %w", err)
	}
	input := b64.EncodeToString(header) + "." + b64.EncodeToString(payload)
	sig := s.Sign([]byte(input))
	if len(sig) != ed25519.SignatureSize {
		return "", refuse(ErrBadSignature, "signer returned a signature of the wrong size")
	}
	token := input + "." + b64.EncodeToString(sig)
	if len(token) > MaxTokenSize {
		return "", refuse(ErrTooLarge, fmt.Sprintf("token is over %d bytes", MaxTokenSize))
	}
	return token, nil
}

// claims are a verified token's registered claims, with every claim
// available by exact name in all.
type claims struct {
	all fields
	iss string
	sub string
	jti string
	aud []string
	nbf time.Time // zero when absent
	exp time.Time
	iat time.Time
}

// verifyCompact is the strict path every token goes through, with the
// issuer's key taken from its did:key.
func verifyCompact(token, typ string, now time.Time, skew time.Duration) (*claims, error) {
	return verifyCompactWith(context.Background(), didKeys{}, token, typ, now, skew)
}

// verifyCompactWith is the strict path every token goes through: see the
// package documentation. typ is the header typ required: TypeJWT also
// accepts a header without typ. keys finds the issuer's key.
func verifyCompactWith(ctx context.Context, keys KeyResolver, token, typ string, now time.Time, skew time.Duration) (*claims, error) {
	if len(token) > MaxTokenSize {
		return nil, refuse(ErrTooLarge, fmt.Sprintf("token is over %d bytes", MaxTokenSize))
	}
	h64, rest, ok1 := strings.Cut(token, ".")
	p64, s64, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(s64, ".") {
		return nil, refuse(ErrBadToken, "not a compact JWS of three parts")
	}

	hraw, err := b64.DecodeString(h64)
	if err != nil {
		return nil, refuseField(ErrBadToken, "header", "not unpadded base64url")
	}
	if err := checkJSON(hraw, 1); err != nil {
		return nil, &Error{Code: ErrBadToken, Field: "header", Err: err}
	}
	header, _ := parseFields(hraw)
	if _, ok := header["crit"]; ok {
		return nil, refuseField(ErrBadToken, "crit", "no critical header extension is understood")
	}
	for name := range header {
		if name != "alg" && name != "typ" && name != "kid" {
			return nil, refuseField(ErrBadToken, "header", "only alg, typ and kid are accepted")
		}
	}
	if alg, _, ok := header.str("alg"); !ok || alg != "EdDSA" {
		return nil, refuseField(ErrUnsupportedAlg, "alg", "only EdDSA is accepted")
	}
	gotTyp, hasTyp, ok := header.str("typ")
	if !ok || (hasTyp && gotTyp != typ) || (!hasTyp && typ != TypeJWT) {
		return nil, refuseField(ErrBadToken, "typ", "must be "+typ)
	}
	kid, hasKid, ok := header.str("kid")
	if !ok {
		return nil, refuseField(ErrBadToken, "kid", "not a string")
	}

	praw, err := b64.DecodeString(p64)
	if err != nil {
		return nil, refuseField(ErrBadToken, "payload", "not unpadded base64url")
	}
	if err := checkJSON(praw, MaxDepth); err != nil {
		return nil, &Error{Code: ErrBadToken, Field: "payload", Err: err}
	}
	all, _ := parseFields(praw)
	c := &claims{all: all}
	var present bool
	if c.iss, present, ok = all.str("iss"); !ok || !present || c.iss == "" {
		return nil, refuseField(ErrBadToken, "iss", "missing or not a string")
	}
	if hasKid {
		base, frag, hasFrag := strings.Cut(kid, "#")
		if !hasFrag || frag == "" {
			return nil, refuseField(ErrBadToken, "kid", "not a DID URL with a key fragment")
		}
		if base != c.iss {
			return nil, refuseField(ErrIssuerMismatch, "kid", "names a key of another DID than iss")
		}
	}
	if keys == nil {
		keys = didKeys{}
	}
	pub, err := keys.AssertionKey(ctx, c.iss, kid)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, e
		}
		return nil, &Error{Code: ErrBadToken, Field: "iss", Msg: "not a usable DID", Err: err}
	}

	sig, err := b64.DecodeString(s64)
	if err != nil {
		return nil, refuseField(ErrBadToken, "signature", "not unpadded base64url")
	}
	if len(sig) != ed25519.SignatureSize {
		return nil, refuseField(ErrBadSignature, "signature", "wrong size")
	}
	if !ed25519.Verify(pub, []byte(token[:len(h64)+1+len(p64)]), sig) {
		return nil, refuse(ErrBadSignature, "signature does not verify with the issuer's key")
	}

	if err := c.readRegistered(); err != nil {
		return nil, err
	}
	if err := c.checkTimes(now, skew); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *claims) readRegistered() error {
	var ok bool
	for _, s := range []struct {
		name string
		dst  *string
	}{{"sub", &c.sub}, {"jti", &c.jti}} {
		if *s.dst, _, ok = c.all.str(s.name); !ok {
			return refuseField(ErrBadToken, s.name, "not a string")
		}
	}
	if c.aud, _, ok = c.all.strings("aud", true); !ok {
		return refuseField(ErrBadToken, "aud", "not a string or an array of strings")
	}
	for _, d := range []struct {
		name string
		dst  *time.Time
	}{{"nbf", &c.nbf}, {"exp", &c.exp}, {"iat", &c.iat}} {
		if *d.dst, _, ok = c.all.date(d.name); !ok {
			return refuseField(ErrBadToken, d.name, "not a NumericDate in whole seconds")
		}
	}
	return nil
}

func (c *claims) checkTimes(now time.Time, skew time.Duration) error {
	if !c.exp.IsZero() && !now.Before(c.exp.Add(skew)) {
		return refuseField(ErrExpired, "exp", "the token has expired")
	}
	if !c.nbf.IsZero() && now.Add(skew).Before(c.nbf) {
		return refuseField(ErrNotYetValid, "nbf", "the token is not valid yet")
	}
	if !c.iat.IsZero() && now.Add(skew).Before(c.iat) {
		return refuseField(ErrNotYetValid, "iat", "the token was issued in the future")
	}
	return nil
}

// hasAudience reports whether aud names audience.
func (c *claims) hasAudience(audience string) bool {
	for _, a := range c.aud {
		if a == audience && a != "" {
			return true
		}
	}
	return false
}

// numericDate is a time as a JWT NumericDate.
func numericDate(t time.Time) int64 { return t.Unix() }
