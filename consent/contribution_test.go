package consent

import (
	"encoding/json"
	"strings"
	"testing"
)

func testContribution(k keys) Contribution {
	return Contribution{ID: "urn:uuid:1a1c2b9e-8a41-4d0c-9a55-3c2d7e4f1a20", Subject: k.owner.DID(), Training: "train-1", Round: 3, Share: 0.125,
		Pool: Money{Amount: 1000, Currency: "EUR"}, Payout: Money{Amount: 125, Currency: "EUR"}, ReceiptID: "urn:uuid:0b1c2b9e-8a41-4d0c-9a55-3c2d7e4f1a20"}
}

func TestContributionRoundTrip(t *testing.T) {
	k := testKeys(t)
	tok, err := IssueContribution(k.requester, testContribution(k), now)
	if err != nil {
		t.Fatal(err)
	}
	c, err := VerifyContribution(tok, now)
	if err != nil {
		t.Fatal(err)
	}
	want := testContribution(k)
	if c.Issuer != k.requester.DID() || c.Subject != want.Subject || c.Round != 3 || c.Share != 0.125 || c.Payout != want.Payout || c.Pool != want.Pool ||
		c.ReceiptID != want.ReceiptID || c.Flagged || c.ID != want.ID || !c.IssuedAt.Equal(now) {
		t.Fatalf("read back %+v", c)
	}
	// Tampering with the payload breaks the signature.
	hdr, payload, _ := segments(t, tok)
	forged := hdr + "." + strings.Replace(payload, payload[len(payload)/2:len(payload)/2+2], "AA", 1) + "." + strings.Split(tok, ".")[2]
	if _, err := VerifyContribution(forged, now); err == nil {
		t.Fatal("a tampered contribution verified")
	}
	// A Consent credential is not a contribution, nor the reverse.
	if _, err := VerifyContribution(issueCredential(t, k), now); err == nil {
		t.Fatal("a consent credential read as a contribution")
	}
	if _, err := VerifyCredential(tok, now); err == nil {
		t.Fatal("a contribution read as a consent credential")
	}
}

func TestIssueContributionRefuses(t *testing.T) {
	k := testKeys(t)
	for name, mutate := range map[string]func(*Contribution){
		"flagged but paid":     func(c *Contribution) { c.Flagged = true },
		"share over 1":         func(c *Contribution) { c.Share = 1.5 },
		"round -1":             func(c *Contribution) { c.Round = -1 },
		"no training":          func(c *Contribution) { c.Training = "" },
		"subject not DID":      func(c *Contribution) { c.Subject = "vault" },
		"bad id":               func(c *Contribution) { c.ID = "x" },
		"negative payout":      func(c *Contribution) { c.Payout.Amount = -1 },
		"no pool":              func(c *Contribution) { c.Pool = Money{} },
		"pool in another coin": func(c *Contribution) { c.Pool.Currency = "USD" },
		"payout not the share": func(c *Contribution) { c.Payout.Amount = 127 },
		"payout over the pool": func(c *Contribution) { c.Share, c.Payout.Amount = 1, 1001 },
	} {
		c := testContribution(k)
		mutate(&c)
		if _, err := IssueContribution(k.requester, c, now); CodeOf(err) != ErrInvalidRequest {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// The payout must be the share of the pool within one minor unit, computed
// exactly: a share as written in the credential, never a float product.
func TestPayoutOfShare(t *testing.T) {
	for _, tc := range []struct {
		payout, pool int64
		share        float64
		ok           bool
	}{
		{125, 1000, 0.125, true},
		{124, 1000, 0.125, true},
		{126, 1000, 0.125, true},
		{127, 1000, 0.125, false},
		{123, 1000, 0.125, false},
		{0, 0, 0.5, true},
		{1, 0, 0.5, false}, // over the pool
		{1000, 1000, 1, true},
		{1001, 1000, 1, false},
		{0, 1000, 0, true},
		{2, 1000, 0, false},
		// 0.1 as a decimal, not as the binary float: 10^17 × 0.1 is exactly
		// 10^16, while the float 0.1 is a hair above.
		{1e16, 1e17, 0.1, true},
		{1e16 + 2, 1e17, 0.1, false},
		{1, 3, 0.333333333333, true},
		{-1, 10, 0, false},
		{1, 10, -0.1, false},
	} {
		if got := PayoutOfShare(tc.payout, tc.pool, tc.share); got != tc.ok {
			t.Errorf("PayoutOfShare(%d, %d, %g) = %v", tc.payout, tc.pool, tc.share, got)
		}
	}
}

// A credential signed by its coordinator is still refused when it breaks
// its own rules: each with its own code.
func TestVerifyContributionRefusesBrokenRules(t *testing.T) {
	k := testKeys(t)
	tok, err := IssueContribution(k.requester, testContribution(k), now)
	if err != nil {
		t.Fatal(err)
	}
	hdr, payload, _ := segments(t, tok)
	for _, tc := range []struct {
		name string
		edit func(cs map[string]any)
		code Code
	}{
		{"flagged but paid", func(cs map[string]any) { cs["flagged"] = true }, ErrFlaggedPaid},
		{"flagged with a share", func(cs map[string]any) {
			cs["flagged"], cs["payout"] = true, map[string]any{"amount": 0, "currency": "EUR"}
		}, ErrFlaggedPaid},
		{"payout not the share", func(cs map[string]any) { cs["payout"] = map[string]any{"amount": 200, "currency": "EUR"} }, ErrPayoutNotShare},
		{"no pool", func(cs map[string]any) { delete(cs, "pool") }, ErrBadToken},
		{"pool null", func(cs map[string]any) { cs["pool"] = nil }, ErrBadToken},
		{"pool negative", func(cs map[string]any) { cs["pool"] = map[string]any{"amount": -1000, "currency": "EUR"} }, ErrBadToken},
		{"pool a float", func(cs map[string]any) { cs["pool"] = map[string]any{"amount": 1000.5, "currency": "EUR"} }, ErrBadToken},
		{"share not a decimal", func(cs map[string]any) { cs["share"] = "one eighth" }, ErrBadToken},
		{"share NaN", func(cs map[string]any) { cs["share"] = "NaN" }, ErrBadToken},
	} {
		var claims map[string]any
		if err := json.Unmarshal([]byte(payload), &claims); err != nil {
			t.Fatal(err)
		}
		tc.edit(sub(claims, "vc", "credentialSubject"))
		_, err = VerifyContribution(forge(t, k.requester, hdr, claims), now)
		t.Run(tc.name, func(t *testing.T) { wantCode(t, err, tc.code) })
	}
	// Round 0, the feature moments, is a round like the others.
	c := testContribution(k)
	c.Round = 0
	tok, err = IssueContribution(k.requester, c, now)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := VerifyContribution(tok, now); err != nil || got.Round != 0 {
		t.Fatalf("round 0: %+v, %v", got, err)
	}
}

func FuzzVerifyContribution(f *testing.F) {
	k := testKeys(f)
	tok, err := IssueContribution(k.requester, testContribution(k), now)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tok)
	f.Add(tok[:len(tok)/2])
	f.Add(issueCredential(f, k))
	f.Add("e30.e30.")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := VerifyContribution(s, now)
		if err != nil {
			if CodeOf(err) == "" {
				t.Fatalf("refusal without a code: %v", err)
			}
			return
		}
		if c.Raw != s || c.Issuer == "" || c.Subject == "" || !(c.Share >= 0 && c.Share <= 1) {
			t.Fatalf("accepted an incomplete contribution: %+v", c)
		}
		if c.Payout.Currency != c.Pool.Currency || !PayoutOfShare(c.Payout.Amount, c.Pool.Amount, c.Share) || (c.Flagged && c.Payout.Amount != 0) {
			t.Fatalf("accepted a contribution that breaks its payout rules: %+v", c)
		}
	})
}
