package consent

import (
	"testing"
)

// The verifiers take untrusted tokens: whatever the input, they must not
// panic, every refusal must carry a Code, and what they accept must hold
// the invariants callers rely on.

func FuzzVerifyCredential(f *testing.F) {
	k := testKeys(f)
	cred := issueCredential(f, k)
	f.Add(cred)
	f.Add(forge(f, k.owner, `{"alg":"EdDSA"}`, vcClaims(k)))
	f.Add(forge(f, k.owner, header(k.owner.DID()), vcClaims(k)))
	f.Add(cred[:len(cred)/2])
	f.Add("e30.e30.")
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := VerifyCredential(tok, now)
		if err != nil {
			if CodeOf(err) == "" {
				t.Fatalf("refusal without a code: %v", err)
			}
			return
		}
		if c.Raw != tok || c.Issuer == "" || c.Subject == "" || c.Expires.IsZero() {
			t.Fatalf("accepted an incomplete credential: %+v", c)
		}
	})
}

func FuzzVerifyPresentation(f *testing.F) {
	k := testKeys(f)
	cred := issueCredential(f, k)
	f.Add(present(f, k, cred))
	f.Add(forge(f, k.requester, header(k.requester.KeyID()), vpClaims(k, vcClaims(k))))
	f.Add(forge(f, k.requester, `{"alg":"EdDSA"}`, vpClaims(k, cred)))
	f.Add(cred)
	f.Fuzz(func(t *testing.T, tok string) {
		p, err := VerifyPresentation(tok, k.owner.DID(), now)
		if err != nil {
			if CodeOf(err) == "" {
				t.Fatalf("refusal without a code: %v", err)
			}
			return
		}
		if p.Nonce == "" || p.Credential == nil || p.Holder != p.Credential.Subject || p.Credential.Terms.Vault != k.owner.DID() {
			t.Fatalf("accepted a presentation that breaks the invariants: %+v", p)
		}
	})
}

func FuzzVerifyRequest(f *testing.F) {
	k := testKeys(f)
	good, err := SignRequest(k.requester, testRequest(k), now)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(issueCredential(f, k))
	f.Add(good + ".")
	f.Fuzz(func(t *testing.T, tok string) {
		r, err := VerifyRequest(tok, k.owner.DID(), now)
		if err != nil {
			if CodeOf(err) == "" {
				t.Fatalf("refusal without a code: %v", err)
			}
			return
		}
		if r.Vault != k.owner.DID() || r.MaxRuns < 1 || r.MaxRuns > MaxRuns || r.Price.Amount < 0 {
			t.Fatalf("accepted a request that breaks the rules: %+v", r)
		}
	})
}
