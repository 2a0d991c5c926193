package consent

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestCredentialRoundTrip(t *testing.T) {
	k := testKeys(t)
	tok := issueCredential(t, k)
	c, err := VerifyCredential(tok, now)
	if err != nil {
		t.Fatal(err)
	}
	want := Credential{
		ID: consentID, Issuer: k.owner.DID(), Subject: k.requester.DID(),
		NotBefore: now.Add(-time.Hour), Expires: now.Add(24 * time.Hour), IssuedAt: now.Add(-time.Hour),
		Terms: testTerms(k.owner.DID()), Status: testStatus, Raw: tok,
	}
	if !reflect.DeepEqual(*c, want) {
		t.Fatalf("got %+v\nwant %+v", *c, want)
	}
	hdr, payload, _ := segments(t, tok)
	if hdr != header(k.owner.KeyID()) {
		t.Errorf("header %s", hdr)
	}
	// The VC-JWT encoding other libraries read: registered claims plus vc.
	var p map[string]any
	if err := json.Unmarshal([]byte(payload), &p); err != nil {
		t.Fatal(err)
	}
	for _, claim := range []string{"iss", "sub", "nbf", "exp", "iat", "jti", "vc"} {
		if _, ok := p[claim]; !ok {
			t.Errorf("claim %s missing", claim)
		}
	}
}

// A credential made by did-jwt-vc: no kid, no jti, no iat, no
// credentialSubject.id (it lives in sub), a single @context.
func TestCredentialWithoutKidVerifies(t *testing.T) {
	k := testKeys(t)
	claims := vcClaims(k)
	delete(claims, "jti")
	delete(claims, "iat")
	delete(sub(claims, "vc", "credentialSubject"), "id")
	sub(claims, "vc")["@context"] = []any{CredentialsContext}
	tok := forge(t, k.owner, `{"alg":"EdDSA","typ":"JWT"}`, claims)
	c, err := VerifyCredential(tok, now)
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != "" || c.Subject != k.requester.DID() || c.Issuer != k.owner.DID() {
		t.Fatalf("got %+v", c)
	}
	// And with no typ at all.
	if _, err := VerifyCredential(forge(t, k.owner, `{"alg":"EdDSA"}`, claims), now); err != nil {
		t.Fatal(err)
	}
}

func TestCredentialAttacks(t *testing.T) {
	k := testKeys(t)
	ownerHdr := header(k.owner.KeyID())
	valid := vcClaims(k)
	tests := []struct {
		name string
		tok  func() string
		now  time.Time
		want Code
	}{
		{"valid", func() string { return forge(t, k.owner, ownerHdr, valid) }, now, ""},
		{"alg none, empty signature", func() string {
			p, _ := json.Marshal(valid)
			return b64s(`{"alg":"none","typ":"JWT"}`) + "." + b64s(string(p)) + "."
		}, now, ErrUnsupportedAlg},
		{"alg none, no signature part", func() string {
			p, _ := json.Marshal(valid)
			return b64s(`{"alg":"none"}`) + "." + b64s(string(p))
		}, now, ErrBadToken},
		{"HS256 keyed with the owner's public key", func() string {
			p, _ := json.Marshal(valid)
			input := b64s(`{"alg":"HS256","typ":"JWT","kid":"`+k.owner.KeyID()+`"}`) + "." + b64s(string(p))
			mac := hmac.New(sha256.New, k.owner.Public())
			mac.Write([]byte(input))
			return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
		}, now, ErrUnsupportedAlg},
		{"alg as a number", func() string { return forge(t, k.owner, `{"alg":1}`, valid) }, now, ErrUnsupportedAlg},
		{"unknown crit", func() string {
			return forge(t, k.owner, `{"alg":"EdDSA","typ":"JWT","crit":["exp-x"],"exp-x":1}`, valid)
		}, now, ErrBadToken},
		{"embedded jwk", func() string {
			return forge(t, k.owner, `{"alg":"EdDSA","jwk":{"kty":"OKP"}}`, valid)
		}, now, ErrBadToken},
		{"typ vc+jwt", func() string { return forge(t, k.owner, `{"alg":"EdDSA","typ":"vc+jwt"}`, valid) }, now, ErrBadToken},
		{"typ of a request", func() string {
			return forge(t, k.owner, `{"alg":"EdDSA","typ":"`+TypeRequest+`"}`, valid)
		}, now, ErrBadToken},
		{"iss is the owner, kid and signature mallory's", func() string {
			return forge(t, k.mallory, header(k.mallory.KeyID()), valid)
		}, now, ErrIssuerMismatch},
		{"kid is the owner's, signed by mallory", func() string { return forge(t, k.mallory, ownerHdr, valid) }, now, ErrBadSignature},
		{"no kid, signed by mallory", func() string { return forge(t, k.mallory, `{"alg":"EdDSA"}`, valid) }, now, ErrBadSignature},
		{"kid without fragment", func() string { return forge(t, k.owner, header(k.owner.DID()), valid) }, now, ErrBadToken},
		{"kid with an empty fragment", func() string { return forge(t, k.owner, header(k.owner.DID()+"#"), valid) }, now, ErrBadToken},
		{"kid fragment naming another key", func() string {
			frag := strings.TrimPrefix(k.mallory.DID(), "did:key:")
			return forge(t, k.owner, header(k.owner.DID()+"#"+frag), valid)
		}, now, ErrIssuerMismatch},
		{"kid not a string", func() string { return forge(t, k.owner, `{"alg":"EdDSA","kid":7}`, valid) }, now, ErrBadToken},
		{"expired", func() string { return forge(t, k.owner, ownerHdr, valid) }, now.Add(24*time.Hour + Skew), ErrExpired},
		{"expired within skew", func() string { return forge(t, k.owner, ownerHdr, valid) }, now.Add(24*time.Hour + Skew - time.Second), ""},
		{"not yet valid", func() string { return forge(t, k.owner, ownerHdr, valid) }, now.Add(-time.Hour - Skew - time.Second), ErrNotYetValid},
		{"no exp", func() string {
			c := vcClaims(k)
			delete(c, "exp")
			return forge(t, k.owner, ownerHdr, c)
		}, now, ErrBadToken},
		{"exp as a string", func() string {
			c := vcClaims(k)
			c["exp"] = "tomorrow"
			return forge(t, k.owner, ownerHdr, c)
		}, now, ErrBadToken},
		{"exp with a fraction", func() string {
			c := vcClaims(k)
			c["exp"] = 1.5e9 + 0.5
			return forge(t, k.owner, ownerHdr, c)
		}, now, ErrBadToken},
		{"iss not a DID", func() string {
			c := vcClaims(k)
			c["iss"] = "https://example.com"
			return forge(t, k.owner, `{"alg":"EdDSA"}`, c)
		}, now, ErrBadToken},
		{"iss null", func() string {
			c := vcClaims(k)
			c["iss"] = nil
			return forge(t, k.owner, `{"alg":"EdDSA"}`, c)
		}, now, ErrBadToken},
		{"vc.issuer is another DID", func() string {
			c := vcClaims(k)
			sub(c, "vc")["issuer"] = k.mallory.DID()
			return forge(t, k.owner, ownerHdr, c)
		}, now, ErrIssuerMismatch},
		{"vc.issuer object with the owner's id", func() string {
			c := vcClaims(k)
			sub(c, "vc")["issuer"] = map[string]any{"id": k.owner.DID()}
			return forge(t, k.owner, ownerHdr, c)
		}, now, ""},
		{"credentialSubject.id is not sub", func() string {
			c := vcClaims(k)
			sub(c, "vc", "credentialSubject")["id"] = k.mallory.DID()
			return forge(t, k.owner, ownerHdr, c)
		}, now, ErrBadToken},
		{"not a TroveConsent", func() string {
			c := vcClaims(k)
			sub(c, "vc")["type"] = []any{"VerifiableCredential"}
			return forge(t, k.owner, ownerHdr, c)
		}, now, ErrBadToken},
		{"@context without the base context first", func() string {
			c := vcClaims(k)
			sub(c, "vc")["@context"] = []any{ConsentContext, CredentialsContext}
			return forge(t, k.owner, ownerHdr, c)
		}, now, ErrBadToken},
		{"no columns", func() string {
			c := vcClaims(k)
			delete(sub(c, "vc", "credentialSubject"), "columns")
			return forge(t, k.owner, ownerHdr, c)
		}, now, ErrBadToken},
		{"no output policy", func() string {
			c := vcClaims(k)
			delete(sub(c, "vc", "credentialSubject"), "output")
			return forge(t, k.owner, ownerHdr, c)
		}, now, ErrBadToken},
		{"epsilon not a number", func() string {
			c := vcClaims(k)
			sub(c, "vc", "credentialSubject", "output")["epsilon"] = "0.5"
			return forge(t, k.owner, ownerHdr, c)
		}, now, ErrBadToken},
		{"unknown purpose code", func() string {
			c := vcClaims(k)
			sub(c, "vc", "credentialSubject")["purposeCode"] = "ads"
			return forge(t, k.owner, ownerHdr, c)
		}, now, ErrBadToken},
		{"price per hour", func() string {
			c := vcClaims(k)
			sub(c, "vc", "credentialSubject", "price")["per"] = "hour"
			return forge(t, k.owner, ownerHdr, c)
		}, now, ErrBadToken},
		{"amount as a float", func() string {
			c := vcClaims(k)
			sub(c, "vc", "credentialSubject", "price")["amount"] = 1.5
			return forge(t, k.owner, ownerHdr, c)
		}, now, ErrBadToken},
		{"two subjects", func() string {
			c := vcClaims(k)
			cs := sub(c, "vc", "credentialSubject")
			sub(c, "vc")["credentialSubject"] = []any{cs, cs}
			return forge(t, k.owner, ownerHdr, c)
		}, now, ErrBadToken},
		{"duplicate claim", func() string {
			p, _ := json.Marshal(valid)
			return forge(t, k.owner, ownerHdr, `{"sub":"`+k.mallory.DID()+`",`+string(p[1:]))
		}, now, ErrBadToken},
		{"duplicate claim differing in case", func() string {
			p, _ := json.Marshal(valid)
			return forge(t, k.owner, ownerHdr, `{"SUB":"`+k.mallory.DID()+`",`+string(p[1:]))
		}, now, ErrBadToken},
		{"duplicate claim spelled with an escape", func() string {
			p, _ := json.Marshal(valid)
			return forge(t, k.owner, ownerHdr, `{"\u0073ub":"`+k.mallory.DID()+`",`+string(p[1:]))
		}, now, ErrBadToken},
		{"duplicate header parameter", func() string {
			return forge(t, k.owner, `{"alg":"EdDSA","alg":"EdDSA"}`, valid)
		}, now, ErrBadToken},
		{"deeply nested JSON", func() string {
			c := vcClaims(k)
			var deep any = "x"
			for range MaxDepth {
				deep = []any{deep}
			}
			c["extra"] = deep
			return forge(t, k.owner, ownerHdr, c)
		}, now, ErrBadToken},
		{"nesting at the limit is fine", func() string {
			c := vcClaims(k)
			var deep any = "x"
			for range MaxDepth - 1 {
				deep = []any{deep}
			}
			c["extra"] = deep
			return forge(t, k.owner, ownerHdr, c)
		}, now, ""},
		{"trailing data after the payload", func() string {
			p, _ := json.Marshal(valid)
			return forge(t, k.owner, ownerHdr, string(p)+"{}")
		}, now, ErrBadToken},
		{"payload an array", func() string { return forge(t, k.owner, ownerHdr, `[1]`) }, now, ErrBadToken},
		{"oversized", func() string {
			c := vcClaims(k)
			c["pad"] = strings.Repeat("a", MaxTokenSize)
			return forge(t, k.owner, ownerHdr, c)
		}, now, ErrTooLarge},
		{"an unsigned JSON credential", func() string {
			b, _ := json.Marshal(vcClaims(k))
			return string(b)
		}, now, ErrBadToken},
		{"four parts", func() string { return forge(t, k.owner, ownerHdr, valid) + ".x" }, now, ErrBadToken},
		{"padded base64", func() string {
			tok := forge(t, k.owner, ownerHdr, valid)
			parts := strings.Split(tok, ".")
			return parts[0] + "." + parts[1] + "." + parts[2] + "=="
		}, now, ErrBadToken},
		{"short signature", func() string {
			_, _, sig := segments(t, forge(t, k.owner, ownerHdr, valid))
			p, _ := json.Marshal(valid)
			return b64s(ownerHdr) + "." + b64s(string(p)) + "." + base64.RawURLEncoding.EncodeToString(sig[:63])
		}, now, ErrBadSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := VerifyCredential(tc.tok(), tc.now)
			wantCode(t, err, tc.want)
		})
	}
}

// One changed byte anywhere in a header, payload or signature is refused.
// Where the change leaves the token well-formed, the signature catches it.
func TestCredentialTampered(t *testing.T) {
	k := testKeys(t)
	tok := issueCredential(t, k)
	hdr, payload, sig := segments(t, tok)
	parts := strings.Split(tok, ".")
	enc := base64.RawURLEncoding.EncodeToString

	t.Run("payload byte", func(t *testing.T) {
		altered := strings.Replace(payload, `"maxRuns":3`, `"maxRuns":9`, 1)
		if altered == payload {
			t.Fatal("nothing to alter")
		}
		_, err := VerifyCredential(parts[0]+"."+enc([]byte(altered))+"."+parts[2], now)
		wantCode(t, err, ErrBadSignature)
	})
	t.Run("header byte", func(t *testing.T) {
		// The header's values are all checked, so the change that keeps
		// it well-formed and meaning the same is a byte of whitespace.
		altered := strings.Replace(hdr, `"typ":"JWT"`, `"typ": "JWT"`, 1)
		_, err := VerifyCredential(enc([]byte(altered))+"."+parts[1]+"."+parts[2], now)
		wantCode(t, err, ErrBadSignature)
	})
	t.Run("signature byte", func(t *testing.T) {
		bad := append([]byte(nil), sig...)
		bad[10] ^= 1
		_, err := VerifyCredential(parts[0]+"."+parts[1]+"."+enc(bad), now)
		wantCode(t, err, ErrBadSignature)
	})
	t.Run("every character", func(t *testing.T) {
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		for i := range len(tok) {
			if tok[i] == '.' {
				continue
			}
			c := alphabet[(strings.IndexByte(alphabet, tok[i])+1)%len(alphabet)]
			altered := tok[:i] + string(c) + tok[i+1:]
			if _, err := VerifyCredential(altered, now); err == nil || CodeOf(err) == "" {
				t.Fatalf("byte %d changed: got %v", i, err)
			}
		}
	})
}

func TestIssueRefuses(t *testing.T) {
	k := testKeys(t)
	terms := testTerms(k.owner.DID())
	tests := []struct {
		name    string
		subject string
		terms   func(Terms) Terms
		nbf     time.Time
		id      string
		field   string
	}{
		{"id not a urn:uuid", k.requester.DID(), nil, now, "consent-1", "jti"},
		{"id in uppercase", k.requester.DID(), nil, now, strings.ToUpper(consentID), "jti"},
		{"subject not a DID", "bob", nil, now, consentID, "sub"},
		{"subject a DID URL", k.requester.KeyID(), nil, now, consentID, "sub"},
		{"ends before it starts", k.requester.DID(), nil, now.Add(48 * time.Hour), consentID, "exp"},
		{"no digest", k.requester.DID(), func(t Terms) Terms { t.DatasetDigest = ""; return t }, now, consentID, "credentialSubject.dataset.digest"},
		{"vault not a DID", k.requester.DID(), func(t Terms) Terms { t.Vault = "vault"; return t }, now, consentID, "credentialSubject.vault"},
		{"no columns", k.requester.DID(), func(t Terms) Terms { t.Columns = nil; return t }, now, consentID, "credentialSubject.columns"},
		{"a column twice", k.requester.DID(), func(t Terms) Terms { t.Columns = []string{"a", "a"}; return t }, now, consentID, "credentialSubject.columns"},
		{"empty column name", k.requester.DID(), func(t Terms) Terms { t.Columns = []string{""}; return t }, now, consentID, "credentialSubject.columns"},
		{"control in column name", k.requester.DID(), func(t Terms) Terms { t.Columns = []string{"a\x00"}; return t }, now, consentID, "credentialSubject.columns"},
		{"unknown purpose code", k.requester.DID(), func(t Terms) Terms { t.PurposeCode = "fun"; return t }, now, consentID, "credentialSubject.purposeCode"},
		{"unknown output policy", k.requester.DID(), func(t Terms) Terms { t.Output = OutputPolicy{Policy: "publish"}; return t }, now, consentID, "credentialSubject.output"},
		{"dp without epsilon", k.requester.DID(), func(t Terms) Terms { t.Output.Epsilon = 0; return t }, now, consentID, "credentialSubject.output"},
		{"dp epsilon too large", k.requester.DID(), func(t Terms) Terms { t.Output.Epsilon = 101; return t }, now, consentID, "credentialSubject.output"},
		{"dp delta of 1", k.requester.DID(), func(t Terms) Terms { t.Output.Delta = 1; return t }, now, consentID, "credentialSubject.output"},
		{"release with epsilon", k.requester.DID(), func(t Terms) Terms { t.Output.Policy = OutputRelease; return t }, now, consentID, "credentialSubject.output"},
		{"unknown price unit", k.requester.DID(), func(t Terms) Terms { t.Per = "hour"; return t }, now, consentID, "credentialSubject.price.per"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tt := terms
			if tc.terms != nil {
				tt = tc.terms(tt)
			}
			_, err := Issue(k.owner, tc.subject, tt, tc.nbf, now.Add(24*time.Hour), tc.id, testStatus)
			wantCode(t, err, ErrInvalidRequest)
			if e := err.(*Error); e.Field != tc.field {
				t.Fatalf("field %q, want %q", e.Field, tc.field)
			}
		})
	}
}

// A signer whose kid is not a DID URL of its DID cannot sign.
func TestSignRefusesMismatchedSigner(t *testing.T) {
	k := testKeys(t)
	s := mixedSigner{did: k.owner.DID(), kid: k.mallory.KeyID(), key: k.mallory.Signer().(ed25519.PrivateKey)}
	_, err := Issue(s, k.requester.DID(), testTerms(k.owner.DID()), now, now.Add(time.Hour), consentID, testStatus)
	wantCode(t, err, ErrIssuerMismatch)
}

type mixedSigner struct {
	did, kid string
	key      ed25519.PrivateKey
}

func (m mixedSigner) DID() string            { return m.did }
func (m mixedSigner) KeyID() string          { return m.kid }
func (m mixedSigner) Sign(msg []byte) []byte { return ed25519.Sign(m.key, msg) }
