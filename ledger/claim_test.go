package ledger_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/trove-project/trove/did"
	"github.com/trove-project/trove/ledger"
)

func TestClaimFromReceipt(t *testing.T) {
	vault, _ := testKey(t, 1)
	requester, _ := testKey(t, 9)
	rc := sampleClaims(vault, requester)
	now := time.Date(2025, 3, 1, 13, 0, 0, 0, time.FixedZone("CET", 3600))
	c := ledger.ClaimFromReceipt("claim_1", rc, 250, "EUR", ledger.PerRun, 1, now)
	want := ledger.Claim{
		ID: "claim_1", ReceiptID: rc.ID, JobID: rc.JobID, ConsentID: rc.ConsentID,
		Requester: requester.DID(), Vault: vault.DID(), Amount: 250, Currency: "EUR", Per: ledger.PerRun, Quantity: 1,
		CreatedAt: now.UTC(), State: ledger.ClaimOwed,
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("claim = %+v, want %+v", c, want)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	// Money stays an integer on the wire.
	if !strings.Contains(string(b), `"amount":250,"currency":"EUR"`) || !strings.Contains(string(b), `"state":"owed"`) {
		t.Fatalf("claim JSON %s", b)
	}
}

func TestClaimValidate(t *testing.T) {
	vault, _ := testKey(t, 1)
	requester, _ := testKey(t, 9)
	good := ledger.ClaimFromReceipt("claim_1", sampleClaims(vault, requester), 0, "usdc", ledger.Per1000Rows, 3, time.Unix(1700000000, 0))
	if err := good.Validate(); err != nil {
		t.Fatalf("free claim in a token: %v", err)
	}
	cases := map[string]func(*ledger.Claim){
		"no id":           func(c *ledger.Claim) { c.ID = "" },
		"no receipt":      func(c *ledger.Claim) { c.ReceiptID = "" },
		"no vault":        func(c *ledger.Claim) { c.Vault = "" },
		"negative amount": func(c *ledger.Claim) { c.Amount = -1 },
		"no currency":     func(c *ledger.Claim) { c.Currency = "" },
		"currency spaces": func(c *ledger.Claim) { c.Currency = "U S D" },
		"currency long":   func(c *ledger.Claim) { c.Currency = strings.Repeat("X", 17) },
		"no time":         func(c *ledger.Claim) { c.CreatedAt = time.Time{} },
		"unknown state":   func(c *ledger.Claim) { c.State = "paid" },
		"unknown unit":    func(c *ledger.Claim) { c.Per = "hour" },
	}
	for name, edit := range cases {
		c := good
		edit(&c)
		if err := c.Validate(); !errors.Is(err, ledger.ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
	}
}

func TestClaimAmount(t *testing.T) {
	cases := []struct {
		per      string
		price    int64
		rows     uint64
		amount   int64
		quantity uint64
	}{
		{ledger.PerRun, 125, 569, 125, 1},
		{ledger.Per1000Rows, 10, 569, 10, 1},
		{ledger.Per1000Rows, 10, 1000, 10, 1},
		{ledger.Per1000Rows, 10, 1001, 20, 2},
		{ledger.Per1000Rows, 10, 0, 0, 0},
	}
	for _, tc := range cases {
		a, q, err := ledger.ClaimAmount(tc.per, tc.price, tc.rows)
		if err != nil || a != tc.amount || q != tc.quantity {
			t.Errorf("%s × %d, %d rows: %d for %d (%v), want %d for %d", tc.per, tc.price, tc.rows, a, q, err, tc.amount, tc.quantity)
		}
	}
	if _, _, err := ledger.ClaimAmount("hour", 1, 1); !errors.Is(err, ledger.ErrMalformed) {
		t.Errorf("unknown unit: %v", err)
	}
	if _, _, err := ledger.ClaimAmount(ledger.PerRun, -1, 1); !errors.Is(err, ledger.ErrMalformed) {
		t.Errorf("negative price: %v", err)
	}
	if _, _, err := ledger.ClaimAmount(ledger.Per1000Rows, 1<<62, 1<<40); !errors.Is(err, ledger.ErrOutOfRange) {
		t.Errorf("overflow: %v", err)
	}
}

func sampleClaim(t testing.TB) (*did.Key, *did.Key, ledger.Claim) {
	vault, _ := testKey(t, 1)
	requester, _ := testKey(t, 9)
	return vault, requester, ledger.ClaimFromReceipt("claim_1", sampleClaims(vault, requester), 250, "EUR", ledger.PerRun, 1, time.Unix(1700000000, 0))
}

func TestIssueAndVerifyClaim(t *testing.T) {
	vault, requester, c := sampleClaim(t)
	token, err := ledger.IssueClaim(vault, c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ledger.VerifyClaim(token, vault.DID())
	if err != nil {
		t.Fatal(err)
	}
	want := c
	want.State, want.Token = "", token
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("verified %+v, want %+v", *got, want)
	}
	if _, err := ledger.VerifyClaim(token, requester.DID()); err == nil {
		t.Fatal("claim verified under another DID")
	}
	for i := range token {
		if token[i] == '.' {
			continue
		}
		b := []byte(token)
		b[i] ^= 1
		if _, err := ledger.VerifyClaim(string(b), vault.DID()); err == nil {
			t.Fatalf("claim with byte %d flipped verified", i)
		}
	}
	if _, err := ledger.IssueClaim(requester, c); err == nil {
		t.Fatal("a claim signed by other than its vault")
	}
}

func TestClaimResponses(t *testing.T) {
	vault, requester, c := sampleClaim(t)
	now := time.Unix(1700000100, 0).UTC()
	ack := ledger.ClaimResponse{Requester: requester.DID(), Vault: vault.DID(), ClaimID: c.ID, ReceiptIDs: []string{c.ReceiptID}, Action: ledger.Acknowledge, IssuedAt: now}
	token, err := ledger.SignClaimResponse(requester, ack)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ledger.VerifyClaimResponse(token)
	if err != nil || !reflect.DeepEqual(*got, ack) {
		t.Fatalf("verified %+v (%v), want %+v", got, err, ack)
	}
	dispute := ack
	dispute.Action, dispute.Reason = ledger.Dispute, "the job ran on a dataset I did not consent to"
	if token, err = ledger.SignClaimResponse(requester, dispute); err != nil {
		t.Fatal(err)
	}
	if got, err = ledger.VerifyClaimResponse(token); err != nil || got.Reason != dispute.Reason {
		t.Fatalf("dispute: %+v, %v", got, err)
	}
	bad := map[string]func(*ledger.ClaimResponse){
		"ack with reason":   func(r *ledger.ClaimResponse) { r.Reason = "x" },
		"dispute no reason": func(r *ledger.ClaimResponse) { r.Action = ledger.Dispute },
		"unknown action":    func(r *ledger.ClaimResponse) { r.Action = "pay" },
		"no receipts":       func(r *ledger.ClaimResponse) { r.ReceiptIDs = nil },
		"no claim":          func(r *ledger.ClaimResponse) { r.ClaimID = "" },
		"reason too long": func(r *ledger.ClaimResponse) {
			r.Action, r.Reason = ledger.Dispute, strings.Repeat("x", ledger.MaxReasonLen+1)
		},
		"reason control chars": func(r *ledger.ClaimResponse) { r.Action, r.Reason = ledger.Dispute, "a\x1b[31mb" },
		"other signer":         func(r *ledger.ClaimResponse) { r.Requester = vault.DID() },
	}
	for name, edit := range bad {
		r := ack
		edit(&r)
		if _, err := ledger.SignClaimResponse(requester, r); err == nil {
			t.Errorf("%s: signed", name)
		}
	}
	// A response signed by one key but naming another as issuer fails.
	forged := ack
	forged.Requester = vault.DID()
	ft, err := ledger.SignClaimResponse(vault, forged)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(ft, ".")
	tt := strings.Split(token, ".")
	if _, err := ledger.VerifyClaimResponse(tt[0] + "." + parts[1] + "." + tt[2]); !errors.Is(err, ledger.ErrBadSignature) && !errors.Is(err, ledger.ErrWrongVault) {
		t.Fatalf("spliced response: %v", err)
	}
}

func FuzzVerifyClaim(f *testing.F) {
	vault, _, c := sampleClaim(f)
	token, err := ledger.IssueClaim(vault, c)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(token)
	f.Add(token[:len(token)-2])
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, in string) {
		got, err := ledger.VerifyClaim(in, vault.DID())
		if err != nil {
			return
		}
		if got.Vault != vault.DID() || got.Amount < 0 || got.Validate() == nil {
			t.Fatalf("verified %+v", got) // State is empty: Validate must fail
		}
	})
}

func FuzzVerifyClaimResponse(f *testing.F) {
	vault, requester, c := sampleClaim(f)
	for _, r := range []ledger.ClaimResponse{
		{Action: ledger.Dispute, Reason: "wrong amount"},
		{Action: ledger.Settle, Contribution: contributionJWT},
	} {
		r.Requester, r.Vault, r.ClaimID, r.ReceiptIDs, r.IssuedAt = requester.DID(), vault.DID(), c.ID, []string{c.ReceiptID}, time.Unix(1700000000, 0)
		token, err := ledger.SignClaimResponse(requester, r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(token)
		f.Add(token[:len(token)/2])
	}
	f.Add("eyJhbGciOiJFZERTQSJ9.e30.AAAA")
	f.Fuzz(func(t *testing.T, in string) {
		got, err := ledger.VerifyClaimResponse(in)
		if err != nil {
			return
		}
		// Only the requester holds its key.
		if got.Requester != requester.DID() {
			t.Fatalf("verified a response by %s", got.Requester)
		}
		// Only a settlement carries a Contribution credential, bounded.
		if (got.Action == ledger.Settle) != (got.Contribution != "") || len(got.Contribution) > ledger.MaxContributionLen {
			t.Fatalf("verified %+v", got)
		}
	})
}
