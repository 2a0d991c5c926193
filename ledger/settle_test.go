package ledger_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/trove-project/trove/ledger"
)

// contributionJWT stands for a Contribution credential: the ledger only
// carries it, so its shape is all that matters here.
const contributionJWT = "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJkaWQ6a2V5Ono2TWsifQ.c2lnbmF0dXJlc2lnbmF0dXJl"

// A claim under the share rule signs the rule with its provisional
// amount; the vault's signature covers it.
func TestShareClaimSignsTheRule(t *testing.T) {
	vault, _, c := sampleClaim(t)
	c.Share = ledger.ShareContribution
	token, err := ledger.IssueClaim(vault, c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ledger.VerifyClaim(token, vault.DID())
	if err != nil || got.Share != ledger.ShareContribution || got.Amount != c.Amount {
		t.Fatalf("verified %+v, %v", got, err)
	}
	if !c.Provisional() || c.Owed() != 250 || c.Standing() != "provisional" {
		t.Fatalf("an owed share claim: provisional %v, owed %d, %s", c.Provisional(), c.Owed(), c.Standing())
	}
	// A claim without the rule signs nothing of it: old claims verify alike.
	_, _, plain := sampleClaim(t)
	ptoken, err := ledger.IssueClaim(vault, plain)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := ledger.VerifyClaim(ptoken, vault.DID()); err != nil || p.Share != "" || p.Provisional() {
		t.Fatalf("plain claim %+v, %v", p, err)
	}
	for name, edit := range map[string]func(*ledger.Claim){
		"unknown rule":     func(c *ledger.Claim) { c.Share = "equal" },
		"per 1000 rows":    func(c *ledger.Claim) { c.Per, c.Quantity = ledger.Per1000Rows, 3 },
		"two units":        func(c *ledger.Claim) { c.Quantity = 2 },
		"settled, no rule": func(c *ledger.Claim) { c.Share, c.State = "", ledger.ClaimStateSettled },
		"settled, no sum":  func(c *ledger.Claim) { c.State = ledger.ClaimStateSettled },
		"acknowledged with a settled sum": func(c *ledger.Claim) {
			n := int64(1)
			c.State, c.Settled = ledger.ClaimStateAcknowledged, &n
		},
	} {
		x := c
		edit(&x)
		if err := x.Validate(); !errors.Is(err, ledger.ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	n := int64(0)
	settled := c
	settled.State, settled.Settled = ledger.ClaimStateSettled, &n
	if err := settled.Validate(); err != nil || settled.Owed() != 0 || settled.Provisional() || settled.Standing() != ledger.ClaimStateSettled {
		t.Fatalf("settled at 0: %v, owed %d", err, settled.Owed())
	}
}

// A settlement names the claim, its receipts and the credential, signed
// by the requester; only a settlement carries a credential.
func TestSettleResponse(t *testing.T) {
	vault, requester, c := sampleClaim(t)
	settle := ledger.ClaimResponse{Requester: requester.DID(), Vault: vault.DID(), ClaimID: c.ID, ReceiptIDs: []string{c.ReceiptID},
		Action: ledger.Settle, Contribution: contributionJWT, IssuedAt: time.Unix(1700000100, 0).UTC()}
	token, err := ledger.SignClaimResponse(requester, settle)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ledger.VerifyClaimResponse(token)
	if err != nil || !reflect.DeepEqual(*got, settle) {
		t.Fatalf("verified %+v (%v), want %+v", got, err, settle)
	}
	for name, edit := range map[string]func(*ledger.ClaimResponse){
		"no credential":         func(r *ledger.ClaimResponse) { r.Contribution = "" },
		"credential not a JWS":  func(r *ledger.ClaimResponse) { r.Contribution = "not a token" },
		"credential four parts": func(r *ledger.ClaimResponse) { r.Contribution += ".x" },
		"credential too long": func(r *ledger.ClaimResponse) {
			r.Contribution = "a." + strings.Repeat("b", ledger.MaxContributionLen) + ".c"
		},
		"settlement with reason": func(r *ledger.ClaimResponse) { r.Reason = "because" },
		"ack with credential":    func(r *ledger.ClaimResponse) { r.Action = ledger.Acknowledge },
		"dispute with credential": func(r *ledger.ClaimResponse) {
			r.Action, r.Reason = ledger.Dispute, "wrong"
		},
	} {
		r := settle
		edit(&r)
		if _, err := ledger.SignClaimResponse(requester, r); !errors.Is(err, ledger.ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
