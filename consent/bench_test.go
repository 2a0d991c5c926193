package consent

import (
	"crypto/ed25519"
	"strings"
	"testing"
)

// BenchmarkVerifyJob verifies what a job carries: one presentation and the
// credential inside it.
func BenchmarkVerifyJob(b *testing.B) {
	k := testKeys(b)
	vp := present(b, k, issueCredential(b, k))
	aud := k.owner.DID()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := VerifyPresentation(vp, aud, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyFloor is the cost no verifier can avoid: the two Ed25519
// signature checks over the same signing inputs.
func BenchmarkVerifyFloor(b *testing.B) {
	k := testKeys(b)
	cred := issueCredential(b, k)
	vp := present(b, k, cred)
	type check struct {
		pub       ed25519.PublicKey
		input     []byte
		signature []byte
	}
	var checks []check
	for _, c := range []struct {
		tok string
		pub ed25519.PublicKey
	}{{cred, k.owner.Public()}, {vp, k.requester.Public()}} {
		i := strings.LastIndexByte(c.tok, '.')
		sig, err := b64.DecodeString(c.tok[i+1:])
		if err != nil {
			b.Fatal(err)
		}
		checks = append(checks, check{c.pub, []byte(c.tok[:i]), sig})
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, c := range checks {
			if !ed25519.Verify(c.pub, c.input, c.signature) {
				b.Fatal("signature does not verify")
			}
		}
	}
}
