package consent

import (
	"context"
	"crypto/ed25519"
	"strings"
	"testing"
	"time"
)

// verifyFloor is the cost no verifier can avoid: the two Ed25519 signature
// checks (credential and presentation) over the same signing inputs.
func verifyFloor(b *testing.B, k keys, cred, vp string) {
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

// BenchmarkVerifyFloor is the baseline of BenchmarkVerifyJob on its own.
func BenchmarkVerifyFloor(b *testing.B) {
	k := testKeys(b)
	cred := issueCredential(b, k)
	verifyFloor(b, k, cred, present(b, k, cred))
}

// BenchmarkVerifyJob verifies what a job carries — one presentation with
// its consent credential — and the credential's revocation bit in its
// status list, with a warm Verifier (the vault's: credential and status
// list seen before; the presentation, single-use, verified in full). It
// runs the floor first in the same run and reports its time as a multiple
// of it (x-baseline; goal ≤ 3). The cold sub-benchmark is the full path
// without a cache, aries' data model included.
func BenchmarkVerifyJob(b *testing.B) {
	k := testKeys(b)
	cred := issueCredential(b, k)
	vp := present(b, k, cred)
	list := statusList(b, k, 1, 2, 3)
	aud := k.owner.DID()
	ctx := context.Background()
	var floor float64
	b.Run("baseline=floor", func(b *testing.B) {
		verifyFloor(b, k, cred, vp)
		floor = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	job := func(b *testing.B, v func() *Verifier) {
		b.ReportAllocs()
		for b.Loop() {
			ver := v()
			p, err := ver.VerifyPresentation(ctx, vp, aud, now)
			if err != nil {
				b.Fatal(err)
			}
			l, err := ver.VerifyStatusList(ctx, list, now)
			if err != nil {
				b.Fatal(err)
			}
			if err := l.Check(p.Credential); err != nil {
				b.Fatal(err)
			}
		}
		if floor > 0 {
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/floor, "x-baseline")
		}
	}
	b.Run("warm", func(b *testing.B) {
		v := NewVerifier(nil, 0)
		if _, err := v.VerifyPresentation(ctx, vp, aud, now); err != nil {
			b.Fatal(err)
		}
		job(b, func() *Verifier { return v })
	})
	b.Run("cold", func(b *testing.B) {
		job(b, func() *Verifier { return NewVerifier(nil, 1) })
	})
}

// The cache changes nothing a verifier decides.
func TestVerifierCache(t *testing.T) {
	k := testKeys(t)
	ctx := context.Background()
	v := NewVerifier(nil, 2)
	cred := issueCredential(t, k)
	for range 2 {
		c, err := v.VerifyCredential(ctx, cred, now)
		if err != nil || c.Issuer != k.owner.DID() {
			t.Fatalf("%+v, %v", c, err)
		}
	}
	// A cached credential still expires, and is not valid before its time.
	if _, err := v.VerifyCredential(ctx, cred, now.Add(25*time.Hour)); CodeOf(err) != ErrExpired {
		t.Fatalf("cached credential after exp: %v", err)
	}
	if _, err := v.VerifyCredential(ctx, cred, now.Add(-2*time.Hour)); CodeOf(err) != ErrNotYetValid {
		t.Fatalf("cached credential before nbf: %v", err)
	}
	// One byte changed is another token: verified in full, refused.
	flip := byte('A')
	if cred[len(cred)-5] == 'A' {
		flip = 'B'
	}
	bad := cred[:len(cred)-5] + string(flip) + cred[len(cred)-4:]
	if _, err := v.VerifyCredential(ctx, bad, now); err == nil {
		t.Fatal("a changed credential passed")
	}
	// A presentation is verified in full each time, through the cache for
	// its credential; a stale one is refused.
	vp := present(t, k, cred)
	if _, err := v.VerifyPresentation(ctx, vp, k.owner.DID(), now); err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyPresentation(ctx, vp, k.owner.DID(), now.Add(time.Hour)); CodeOf(err) != ErrExpired {
		t.Fatalf("stale presentation: %v", err)
	}
	if _, err := v.VerifyPresentation(ctx, vp, k.mallory.DID(), now); CodeOf(err) != ErrWrongAudience {
		t.Fatalf("presentation to another vault: %v", err)
	}
	list := statusList(t, k, testStatus.Index)
	for range 2 {
		l, err := v.VerifyStatusList(ctx, list, now)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := v.VerifyCredential(ctx, cred, now)
		if CodeOf(l.Check(c)) != ErrRevoked {
			t.Fatal("revocation not seen through the cache")
		}
	}
	if _, err := v.VerifyStatusList(ctx, list, now.Add(time.Hour)); CodeOf(err) != ErrExpired {
		t.Fatalf("stale cached list: %v", err)
	}
	// Bounded: many tokens, never more than max remembered.
	for i := range 5 {
		c, err := Issue(k.owner, k.requester.DID(), testTerms(k.owner.DID()), now, now.Add(time.Duration(i+1)*time.Hour), consentID, testStatus)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.VerifyCredential(ctx, c, now); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(v.creds); n > 2 {
		t.Fatalf("%d credentials remembered, max 2", n)
	}
}
