package consent

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func TestPresentationRoundTrip(t *testing.T) {
	k := testKeys(t)
	cred := issueCredential(t, k)
	vp := present(t, k, cred)
	p, err := VerifyPresentation(vp, k.owner.DID(), now)
	if err != nil {
		t.Fatal(err)
	}
	if p.Holder != k.requester.DID() || p.Nonce != "n-0123456789abcdef" || p.ID == "" {
		t.Fatalf("got %+v", p)
	}
	if p.Credential == nil || p.Credential.Raw != cred || p.Credential.ID != consentID || !reflect.DeepEqual(p.Credential.Terms, testTerms(k.owner.DID())) {
		t.Fatalf("credential %+v", p.Credential)
	}
	hdr, payload, _ := segments(t, vp)
	if hdr != header(k.requester.KeyID()) {
		t.Errorf("header %s", hdr)
	}
	var claims struct {
		Aud   string `json:"aud"`
		Nonce string `json:"nonce"`
		Exp   int64  `json:"exp"`
		VP    struct {
			VerifiableCredential []string `json:"verifiableCredential"`
		} `json:"vp"`
	}
	if err := json.Unmarshal([]byte(payload), &claims); err != nil {
		t.Fatal(err)
	}
	if claims.Aud != k.owner.DID() || claims.Exp != now.Add(5*time.Minute).Unix() || len(claims.VP.VerifiableCredential) != 1 {
		t.Fatalf("claims %+v", claims)
	}
}

func TestPresentRefuses(t *testing.T) {
	k := testKeys(t)
	cred := issueCredential(t, k)
	tests := []struct {
		name   string
		holder Signer
		cred   string
		nonce  string
		ttl    time.Duration
		want   Code
	}{
		{"holder is not the subject", k.mallory, cred, "n", time.Minute, ErrHolderNotSubject},
		{"no nonce", k.requester, cred, "", time.Minute, ErrBadToken},
		{"lifetime too long", k.requester, cred, "n", time.Hour, ErrBadToken},
		{"broken credential", k.requester, cred[:len(cred)-2] + "AA", "n", time.Minute, ErrBadSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Present(tc.holder, tc.cred, tc.nonce, k.owner.DID(), now, tc.ttl)
			wantCode(t, err, tc.want)
		})
	}
}

func TestPresentationAttacks(t *testing.T) {
	k := testKeys(t)
	cred := issueCredential(t, k)
	reqHdr := header(k.requester.KeyID())
	tests := []struct {
		name     string
		tok      func() string
		audience string
		now      time.Time
		want     Code
	}{
		{"valid", func() string { return forge(t, k.requester, reqHdr, vpClaims(k, cred)) }, k.owner.DID(), now, ""},
		{"aud as an array naming the vault", func() string {
			c := vpClaims(k, cred)
			c["aud"] = []any{"did:key:other", k.owner.DID()}
			return forge(t, k.requester, reqHdr, c)
		}, k.owner.DID(), now, ""},
		{"presented to another vault", func() string { return forge(t, k.requester, reqHdr, vpClaims(k, cred)) }, k.mallory.DID(), now, ErrWrongAudience},
		{"no aud", func() string {
			c := vpClaims(k, cred)
			delete(c, "aud")
			return forge(t, k.requester, reqHdr, c)
		}, k.owner.DID(), now, ErrWrongAudience},
		{"credential issued for another vault", func() string {
			other, err := Issue(k.mallory, k.requester.DID(), testTerms(k.mallory.DID()), now, now.Add(time.Hour), consentID, testStatus)
			if err != nil {
				t.Fatal(err)
			}
			return forge(t, k.requester, reqHdr, vpClaims(k, other))
		}, k.owner.DID(), now, ErrWrongAudience},
		{"holder is not the subject", func() string {
			c := vpClaims(k, cred)
			c["iss"] = k.mallory.DID()
			return forge(t, k.mallory, header(k.mallory.KeyID()), c)
		}, k.owner.DID(), now, ErrHolderNotSubject},
		{"iss is the subject, kid and signature mallory's", func() string {
			return forge(t, k.mallory, header(k.mallory.KeyID()), vpClaims(k, cred))
		}, k.owner.DID(), now, ErrIssuerMismatch},
		{"iss is the subject, signed by mallory without kid", func() string {
			return forge(t, k.mallory, `{"alg":"EdDSA","typ":"JWT"}`, vpClaims(k, cred))
		}, k.owner.DID(), now, ErrBadSignature},
		{"vp.holder differs from iss", func() string {
			c := vpClaims(k, cred)
			sub(c, "vp")["holder"] = k.mallory.DID()
			return forge(t, k.requester, reqHdr, c)
		}, k.owner.DID(), now, ErrIssuerMismatch},
		{"alg none", func() string {
			p, _ := json.Marshal(vpClaims(k, cred))
			return b64s(`{"alg":"none"}`) + "." + b64s(string(p)) + "."
		}, k.owner.DID(), now, ErrUnsupportedAlg},
		{"kid without fragment", func() string { return forge(t, k.requester, header(k.requester.DID()), vpClaims(k, cred)) }, k.owner.DID(), now, ErrBadToken},
		{"credential as a JSON object", func() string {
			var obj map[string]any
			_, payload, _ := segments(t, cred)
			if err := json.Unmarshal([]byte(payload), &obj); err != nil {
				t.Fatal(err)
			}
			vc := obj["vc"].(map[string]any)
			vc["issuer"] = k.owner.DID()
			return forge(t, k.requester, reqHdr, vpClaims(k, vc))
		}, k.owner.DID(), now, ErrBadToken},
		{"credential as a single string", func() string {
			c := vpClaims(k, cred)
			sub(c, "vp")["verifiableCredential"] = cred
			return forge(t, k.requester, reqHdr, c)
		}, k.owner.DID(), now, ""},
		{"two credentials", func() string {
			c := vpClaims(k, cred)
			sub(c, "vp")["verifiableCredential"] = []any{cred, cred}
			return forge(t, k.requester, reqHdr, c)
		}, k.owner.DID(), now, ErrBadToken},
		{"no credential", func() string {
			c := vpClaims(k, cred)
			sub(c, "vp")["verifiableCredential"] = []any{}
			return forge(t, k.requester, reqHdr, c)
		}, k.owner.DID(), now, ErrBadToken},
		{"credential with a changed byte", func() string {
			return forge(t, k.requester, reqHdr, vpClaims(k, cred[:len(cred)-2]+"AA"))
		}, k.owner.DID(), now, ErrBadSignature},
		{"credential signed by mallory as the owner", func() string {
			return forge(t, k.requester, reqHdr, vpClaims(k, forge(t, k.mallory, header(k.mallory.KeyID()), vcClaims(k))))
		}, k.owner.DID(), now, ErrIssuerMismatch},
		{"no nonce", func() string {
			c := vpClaims(k, cred)
			delete(c, "nonce")
			return forge(t, k.requester, reqHdr, c)
		}, k.owner.DID(), now, ErrBadToken},
		{"empty nonce", func() string {
			c := vpClaims(k, cred)
			c["nonce"] = ""
			return forge(t, k.requester, reqHdr, c)
		}, k.owner.DID(), now, ErrBadToken},
		{"nonce not a string", func() string {
			c := vpClaims(k, cred)
			c["nonce"] = 42
			return forge(t, k.requester, reqHdr, c)
		}, k.owner.DID(), now, ErrBadToken},
		{"no exp", func() string {
			c := vpClaims(k, cred)
			delete(c, "exp")
			return forge(t, k.requester, reqHdr, c)
		}, k.owner.DID(), now, ErrBadToken},
		{"presentation expired", func() string { return forge(t, k.requester, reqHdr, vpClaims(k, cred)) }, k.owner.DID(), now.Add(5*time.Minute + Skew), ErrExpired},
		{"presentation not yet valid", func() string { return forge(t, k.requester, reqHdr, vpClaims(k, cred)) }, k.owner.DID(), now.Add(-Skew - time.Second), ErrNotYetValid},
		{"credential expired inside a fresh presentation", func() string {
			old, err := Issue(k.owner, k.requester.DID(), testTerms(k.owner.DID()), now.Add(-48*time.Hour), now.Add(-24*time.Hour), consentID, testStatus)
			if err != nil {
				t.Fatal(err)
			}
			return forge(t, k.requester, reqHdr, vpClaims(k, old))
		}, k.owner.DID(), now, ErrExpired},
		{"not a VerifiablePresentation", func() string {
			c := vpClaims(k, cred)
			sub(c, "vp")["type"] = []any{"VerifiableCredential"}
			return forge(t, k.requester, reqHdr, c)
		}, k.owner.DID(), now, ErrBadToken},
		{"duplicate nonce", func() string {
			p, _ := json.Marshal(vpClaims(k, cred))
			return forge(t, k.requester, reqHdr, `{"nonce":"other",`+string(p[1:]))
		}, k.owner.DID(), now, ErrBadToken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := VerifyPresentation(tc.tok(), tc.audience, tc.now)
			wantCode(t, err, tc.want)
		})
	}
}
