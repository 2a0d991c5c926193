package ledger_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/trove-project/trove/ledger"
)

func TestClaimFromReceipt(t *testing.T) {
	vault, _ := testKey(t, 1)
	requester, _ := testKey(t, 9)
	rc := sampleClaims(vault, requester)
	now := time.Date(2025, 3, 1, 13, 0, 0, 0, time.FixedZone("CET", 3600))
	c := ledger.ClaimFromReceipt("claim_1", rc, 250, "EUR", now)
	want := ledger.Claim{
		ID: "claim_1", ReceiptID: rc.ID, JobID: rc.JobID, ConsentID: rc.ConsentID,
		Requester: requester.DID(), Vault: vault.DID(), Amount: 250, Currency: "EUR",
		CreatedAt: now.UTC(), State: ledger.ClaimOwed,
	}
	if c != want {
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
	good := ledger.ClaimFromReceipt("claim_1", sampleClaims(vault, requester), 0, "usdc", time.Unix(1700000000, 0))
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
	}
	for name, edit := range cases {
		c := good
		edit(&c)
		if err := c.Validate(); !errors.Is(err, ledger.ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
	}
}
