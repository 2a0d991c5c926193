package consent

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/trove-project/trove/did"
)

// now is the clock of every test.
var now = time.Date(2026, 11, 3, 12, 0, 0, 0, time.UTC)

const (
	consentID  = "urn:uuid:6f1c2b9e-8a41-4d0c-9a55-3c2d7e4f1a20"
	wasmDigest = "0b7a3c6f9e1d2a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d"
	dataDigest = "d4e5f60718293a4b5c6d7e8f9a0b1c2d0b7a3c6f9e1d2a4b5c6d7e8f90a1b2c3"
)

// testStatus is the standard credential's status entry.
var testStatus = StatusEntry{ListCredential: "https://vault.example/v1/status/1", Index: 94567}

type keys struct {
	owner, requester, mallory *did.Key
}

func testKeys(tb testing.TB) keys {
	tb.Helper()
	mk := func(b byte) *did.Key {
		k, err := did.FromSeed(bytes.Repeat([]byte{b}, 32))
		if err != nil {
			tb.Fatal(err)
		}
		return k
	}
	return keys{owner: mk(1), requester: mk(2), mallory: mk(3)}
}

func testTerms(vault string) Terms {
	return Terms{
		Vault: vault, Dataset: "breast_cancer", DatasetDigest: dataDigest,
		Algorithm: "builtin:stats@1", Columns: []string{"radius", "texture"},
		Purpose: "Study of tumour size distributions.", PurposeCode: PurposeResearch,
		MaxRuns: 3, Output: OutputPolicy{Policy: OutputDP, Epsilon: 0.5, Delta: 1e-6},
		Price: Money{Amount: 150, Currency: "EUR"}, Per: PerRun,
	}
}

// issueCredential issues the standard test credential: owner to requester,
// valid from an hour ago for a day.
func issueCredential(tb testing.TB, k keys) string {
	tb.Helper()
	tok, err := Issue(k.owner, k.requester.DID(), testTerms(k.owner.DID()), now.Add(-time.Hour), now.Add(24*time.Hour), consentID, testStatus)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

func present(tb testing.TB, k keys, cred string) string {
	tb.Helper()
	tok, err := Present(k.requester, cred, "n-0123456789abcdef", k.owner.DID(), now, 5*time.Minute)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// vcClaims returns the claims Issue makes for the standard credential, as
// a map the attack tests can bend.
func vcClaims(k keys) map[string]any {
	return map[string]any{
		"iss": k.owner.DID(),
		"sub": k.requester.DID(),
		"jti": consentID,
		"nbf": now.Add(-time.Hour).Unix(),
		"iat": now.Add(-time.Hour).Unix(),
		"exp": now.Add(24 * time.Hour).Unix(),
		"vc": map[string]any{
			"@context": []any{CredentialsContext, ConsentContext},
			"type":     []any{"VerifiableCredential", ConsentType},
			"credentialSubject": map[string]any{
				"id":          k.requester.DID(),
				"vault":       k.owner.DID(),
				"dataset":     map[string]any{"name": "breast_cancer", "digest": dataDigest},
				"algorithm":   "builtin:stats@1",
				"columns":     []any{"radius", "texture"},
				"purpose":     "Study of tumour size distributions.",
				"purposeCode": "research",
				"maxRuns":     3,
				"output":      map[string]any{"policy": "dp", "epsilon": 0.5, "delta": 1e-6},
				"price":       map[string]any{"amount": 150, "currency": "EUR", "per": "run"},
			},
			"credentialStatus": map[string]any{
				"id": "https://vault.example/v1/status/1#94567", "type": "BitstringStatusListEntry",
				"statusPurpose": "revocation", "statusListIndex": "94567",
				"statusListCredential": "https://vault.example/v1/status/1",
			},
		},
	}
}

// vpClaims returns the claims Present makes, for the standard presentation
// of cred, as a map.
func vpClaims(k keys, cred any) map[string]any {
	return map[string]any{
		"iss":   k.requester.DID(),
		"aud":   k.owner.DID(),
		"nonce": "n-0123456789abcdef",
		"jti":   "urn:trove:vp:1",
		"iat":   now.Unix(),
		"nbf":   now.Unix(),
		"exp":   now.Add(5 * time.Minute).Unix(),
		"vp": map[string]any{
			"@context":             []any{CredentialsContext},
			"type":                 []any{"VerifiablePresentation"},
			"verifiableCredential": []any{cred},
		},
	}
}

func sub(m map[string]any, path ...string) map[string]any {
	for _, p := range path {
		m = m[p].(map[string]any)
	}
	return m
}

func b64s(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func header(kid string) string {
	return `{"alg":"EdDSA","typ":"JWT","kid":"` + kid + `"}`
}

// forge signs header and payload (raw JSON when a string, marshalled
// otherwise) with signer's key, whatever they say.
func forge(tb testing.TB, signer *did.Key, hdr string, payload any) string {
	tb.Helper()
	p, ok := payload.(string)
	if !ok {
		b, err := json.Marshal(payload)
		if err != nil {
			tb.Fatal(err)
		}
		p = string(b)
	}
	input := b64s(hdr) + "." + b64s(p)
	return input + "." + base64.RawURLEncoding.EncodeToString(signer.Sign([]byte(input)))
}

// segments splits a token and decodes its header and payload.
func segments(tb testing.TB, tok string) (hdr, payload string, sig []byte) {
	tb.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		tb.Fatalf("token has %d parts", len(parts))
	}
	h, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	p, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	s, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err := errors.Join(err1, err2, err3); err != nil {
		tb.Fatal(err)
	}
	return string(h), string(p), s
}

// wantCode fails unless err is a refusal with code ("" meaning success).
func wantCode(tb testing.TB, err error, code Code) {
	tb.Helper()
	if code == "" {
		if err != nil {
			tb.Fatalf("want success, got %v", err)
		}
		return
	}
	if err == nil {
		tb.Fatalf("want %s, got success", code)
	}
	if got := CodeOf(err); got != code {
		tb.Fatalf("want %s, got %s (%v)", code, got, err)
	}
	if !errors.Is(err, code) {
		tb.Fatalf("errors.Is(err, %s) is false for %v", code, err)
	}
}
