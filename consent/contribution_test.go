package consent

import (
	"strings"
	"testing"
)

func testContribution(k keys) Contribution {
	return Contribution{ID: "urn:uuid:1a1c2b9e-8a41-4d0c-9a55-3c2d7e4f1a20", Subject: k.owner.DID(), Training: "train-1", Round: 3, Share: 0.125,
		Payout: Money{Amount: 125, Currency: "EUR"}, ReceiptID: "urn:uuid:0b1c2b9e-8a41-4d0c-9a55-3c2d7e4f1a20"}
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
	if c.Issuer != k.requester.DID() || c.Subject != want.Subject || c.Round != 3 || c.Share != 0.125 || c.Payout != want.Payout ||
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
		"flagged but paid": func(c *Contribution) { c.Flagged = true },
		"share over 1":     func(c *Contribution) { c.Share = 1.5 },
		"round 0":          func(c *Contribution) { c.Round = 0 },
		"no training":      func(c *Contribution) { c.Training = "" },
		"subject not DID":  func(c *Contribution) { c.Subject = "vault" },
		"bad id":           func(c *Contribution) { c.ID = "x" },
		"negative payout":  func(c *Contribution) { c.Payout.Amount = -1 },
	} {
		c := testContribution(k)
		mutate(&c)
		if _, err := IssueContribution(k.requester, c, now); CodeOf(err) != ErrInvalidRequest {
			t.Errorf("%s: %v", name, err)
		}
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
	})
}
