package vault_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/did"
	"github.com/trove-project/trove/ledger"
	"github.com/trove-project/trove/vault"
)

// shareWorld is a vault with a dataset and a requester (a bare key, so
// that tests can sign anything with it) holding two consents for
// builtin:stats@1 at 10 EUR per round: one under the contribution share
// rule, one without.
type shareWorld struct {
	t          *testing.T
	ctx        context.Context
	vault      *vault.Vault
	key        *did.Key
	shared     string // the credential under the share rule
	plain      string // the credential without it
	contribSeq int
}

const sharePrice = 10

func newShareWorld(t *testing.T) *shareWorld {
	t.Helper()
	ctx := context.Background()
	v := MustCreate(t, vault.Config{})
	if _, err := v.Import(ctx, "d", bytes.NewReader([]byte("x,y\n1,2\n3,5\n8,13\n")), vault.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	key, err := did.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	w := &shareWorld{t: t, ctx: ctx, vault: v, key: key}
	w.shared = w.consent("req-shared", consent.ShareContribution)
	w.plain = w.consent("req-plain", "")
	return w
}

func (w *shareWorld) consent(id, share string) string {
	w.t.Helper()
	now := time.Now()
	tok, err := consent.SignRequest(w.key, consent.Request{ID: id, Vault: w.vault.DID(), Dataset: "d", Algorithm: "builtin:stats@1",
		Purpose: "training", PurposeCode: consent.PurposeModelTraining, MaxRuns: 20, Output: consent.OutputPolicy{Policy: consent.OutputRelease},
		Price: consent.Money{Amount: sharePrice, Currency: "EUR"}, Per: consent.PerRound, Share: share, ExpiresAt: now.Add(time.Hour)}, now)
	if err != nil {
		w.t.Fatal(err)
	}
	r, err := w.vault.SubmitRequest(w.ctx, tok)
	if err != nil {
		w.t.Fatal(err)
	}
	if r.Share != share {
		w.t.Fatalf("the vault read the share rule %q, sent %q", r.Share, share)
	}
	if r, err = w.vault.Approve(w.ctx, id); err != nil {
		w.t.Fatal(err)
	}
	return r.Credential
}

// run runs one job under credential and returns its claim.
func (w *shareWorld) run(credential string) *ledger.Claim {
	w.t.Helper()
	nonce, _, err := w.vault.Challenge(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	vp, err := consent.Present(w.key, credential, nonce, w.vault.DID(), time.Now(), 5*time.Minute)
	if err != nil {
		w.t.Fatal(err)
	}
	job, err := w.vault.RunJob(w.ctx, vault.JobRequest{Presentation: vp, Algorithm: "builtin:stats@1"})
	if err != nil {
		w.t.Fatal(err)
	}
	if job.Claim == nil {
		w.t.Fatalf("job %s has no claim", job.ID)
	}
	return job.Claim
}

// contribution is a Contribution credential by signer for claim c: a
// share of a pool of 4 rounds' price, paying a quarter.
func (w *shareWorld) contribution(signer *did.Key, c *ledger.Claim, edit func(*consent.Contribution)) string {
	w.t.Helper()
	w.contribSeq++
	cc := consent.Contribution{ID: fmt.Sprintf("urn:uuid:00000000-0000-4000-8000-%012d", w.contribSeq), Subject: w.vault.DID(),
		Training: "t", Round: 1, Share: 0.25, Pool: consent.Money{Amount: 4 * sharePrice, Currency: "EUR"},
		Payout: consent.Money{Amount: sharePrice, Currency: "EUR"}, ReceiptID: c.ReceiptID}
	if edit != nil {
		edit(&cc)
	}
	tok, err := consent.IssueContribution(signer, cc, time.Now())
	if err != nil {
		w.t.Fatal(err)
	}
	return tok
}

// forgeContribution signs, with the requester's key, a Contribution
// credential whose subject edit rewrites without the issuer's checks.
func (w *shareWorld) forgeContribution(c *ledger.Claim, edit func(subject map[string]any)) string {
	w.t.Helper()
	parts := strings.Split(w.contribution(w.key, c, nil), ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		w.t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		w.t.Fatal(err)
	}
	edit(claims["vc"].(map[string]any)["credentialSubject"].(map[string]any))
	b, err := json.Marshal(claims)
	if err != nil {
		w.t.Fatal(err)
	}
	input := parts[0] + "." + base64.RawURLEncoding.EncodeToString(b)
	return input + "." + base64.RawURLEncoding.EncodeToString(w.key.Sign([]byte(input)))
}

// response is signer's settlement of claim c with credential.
func (w *shareWorld) response(signer *did.Key, c *ledger.Claim, action, credential string) string {
	w.t.Helper()
	tok, err := ledger.SignClaimResponse(signer, ledger.ClaimResponse{Requester: signer.DID(), Vault: w.vault.DID(), ClaimID: c.ID,
		ReceiptIDs: []string{c.ReceiptID}, Action: action, Contribution: credential, IssuedAt: time.Now()})
	if err != nil {
		w.t.Fatal(err)
	}
	return tok
}

// A claim of a round under the share rule is provisional: it signs the
// rule with the price per round. The requester settles it with the
// coordinator's Contribution credential; the vault records the payout,
// logs the settlement, and keeps it across a restart.
func TestSettleShareClaim(t *testing.T) {
	w := newShareWorld(t)
	c := w.run(w.shared)
	if c.Share != ledger.ShareContribution || c.Amount != sharePrice || !c.Provisional() {
		t.Fatalf("claim under the share rule: %+v", c)
	}
	signed, err := ledger.VerifyClaim(c.Token, w.vault.DID())
	if err != nil || signed.Share != ledger.ShareContribution {
		t.Fatalf("the signed claim does not carry the rule: %+v, %v", signed, err)
	}
	if e := lastEntry(t, w.vault); e.Type != ledger.ClaimCreated || e.Fields["share"] != ledger.ShareContribution {
		t.Fatalf("claim logged as %+v", e)
	}
	if p := w.run(w.plain); p.Share != "" || p.Provisional() {
		t.Fatalf("claim without the rule: %+v", p)
	}

	cred := w.contribution(w.key, c, func(cc *consent.Contribution) {
		cc.Pool.Amount, cc.Share, cc.Payout.Amount = 3*sharePrice, 0.4, 12
	})
	resp := w.response(w.key, c, ledger.Settle, cred)
	got, err := w.vault.RespondClaim(w.ctx, c.ID, ledger.Settle, resp)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != ledger.ClaimStateSettled || got.Settled == nil || *got.Settled != 12 || got.Owed() != 12 || got.Amount != sharePrice ||
		got.Contribution != cred || got.Response != resp || got.RespondedAt == nil {
		t.Fatalf("settled claim %+v", got)
	}
	e := lastEntry(t, w.vault)
	respSum, credSum := sha256.Sum256([]byte(resp)), sha256.Sum256([]byte(cred))
	want := map[string]string{"claim_id": c.ID, "response_sha256": hex.EncodeToString(respSum[:]),
		"contribution_sha256": hex.EncodeToString(credSum[:]), "amount": "12", "currency": "EUR"}
	if e.Type != ledger.ClaimSettled || fmt.Sprint(e.Fields) != fmt.Sprint(want) || e.Subject != w.key.DID() {
		t.Fatalf("logged %+v, want claim.settled %v", e, want)
	}
	// The same response again changes nothing; another is refused.
	size, _ := w.vault.LogSize(w.ctx)
	if again, err := w.vault.RespondClaim(w.ctx, c.ID, ledger.Settle, resp); err != nil || *again.Settled != 12 {
		t.Fatalf("the same settlement again: %+v, %v", again, err)
	}
	other := w.response(w.key, c, ledger.Settle, w.contribution(w.key, c, nil))
	if _, err := w.vault.RespondClaim(w.ctx, c.ID, ledger.Settle, other); trove.ErrorReason(err) != "claim_answered" {
		t.Fatalf("a second settlement: %v", err)
	}
	if n, _ := w.vault.LogSize(w.ctx); n != size {
		t.Fatalf("the log grew from %d to %d", size, n)
	}
	if _, err := w.vault.VerifyLog(w.ctx); err != nil {
		t.Fatal(err)
	}
	home := w.vault.Home()
	w.vault.Close()
	v, err := vault.Open(w.ctx, vault.Config{Home: home}, testPass)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	kept, err := v.Claim(w.ctx, c.ID)
	if err != nil || kept.State != ledger.ClaimStateSettled || *kept.Settled != 12 || kept.Contribution != cred || kept.Validate() != nil {
		t.Fatalf("after a restart: %+v, %v", kept, err)
	}
}

// A flagged update is settled at nothing; the claim is still answered.
func TestSettleFlaggedAtZero(t *testing.T) {
	w := newShareWorld(t)
	c := w.run(w.shared)
	cred := w.contribution(w.key, c, func(cc *consent.Contribution) { cc.Flagged, cc.Share, cc.Payout.Amount = true, 0, 0 })
	got, err := w.vault.RespondClaim(w.ctx, c.ID, ledger.Settle, w.response(w.key, c, ledger.Settle, cred))
	if err != nil || got.State != ledger.ClaimStateSettled || *got.Settled != 0 || got.Owed() != 0 {
		t.Fatalf("flagged settlement: %+v, %v", got, err)
	}
}

// Every settlement that is not exactly right is refused with its own
// reason, and changes nothing: the claim stays owed at its provisional
// amount and nothing is logged.
func TestSettleRefusals(t *testing.T) {
	w := newShareWorld(t)
	mallory, err := did.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := w.run(w.shared)
	second := w.run(w.shared)
	plain := w.run(w.plain)
	otherVault, err := did.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		claim  *ledger.Claim
		action string
		token  func() string
		code   trove.Code
		reason string
	}{
		{"response by another requester", c, ledger.Settle, func() string {
			return w.response(mallory, c, ledger.Settle, w.contribution(w.key, c, nil))
		}, trove.EFORBIDDEN, "wrong_claim"},
		{"credential by another issuer", c, ledger.Settle, func() string {
			return w.response(w.key, c, ledger.Settle, w.contribution(mallory, c, nil))
		}, trove.EFORBIDDEN, "contribution_issuer"},
		{"credential for another vault", c, ledger.Settle, func() string {
			return w.response(w.key, c, ledger.Settle, w.contribution(w.key, c, func(cc *consent.Contribution) { cc.Subject = otherVault.DID() }))
		}, trove.EFORBIDDEN, "contribution_subject"},
		{"credential for another receipt", c, ledger.Settle, func() string {
			return w.response(w.key, c, ledger.Settle, w.contribution(w.key, second, nil))
		}, trove.EFORBIDDEN, "contribution_receipt"},
		{"another currency", c, ledger.Settle, func() string {
			return w.response(w.key, c, ledger.Settle, w.contribution(w.key, c, func(cc *consent.Contribution) {
				cc.Pool.Currency, cc.Payout.Currency = "USD", "USD"
			}))
		}, trove.EFORBIDDEN, "contribution_currency"},
		{"pool over the bound", c, ledger.Settle, func() string {
			return w.response(w.key, c, ledger.Settle, w.contribution(w.key, c, func(cc *consent.Contribution) {
				cc.Pool.Amount, cc.Share, cc.Payout.Amount = sharePrice*(vault.MaxPoolRuns+1), 0, 0
			}))
		}, trove.EFORBIDDEN, "pool_over_bound"},
		{"pool not a multiple of the price", c, ledger.Settle, func() string {
			return w.response(w.key, c, ledger.Settle, w.contribution(w.key, c, func(cc *consent.Contribution) {
				cc.Pool.Amount, cc.Payout.Amount = 4*sharePrice+4, 11
			}))
		}, trove.EFORBIDDEN, "pool_not_multiple"},
		{"flagged but paid", c, ledger.Settle, func() string {
			return w.response(w.key, c, ledger.Settle, w.forgeContribution(c, func(s map[string]any) { s["flagged"] = true }))
		}, trove.EFORBIDDEN, "flagged_paid"},
		{"payout not its share", c, ledger.Settle, func() string {
			return w.response(w.key, c, ledger.Settle, w.forgeContribution(c, func(s map[string]any) {
				s["payout"] = map[string]any{"amount": 3 * sharePrice, "currency": "EUR"}
			}))
		}, trove.EFORBIDDEN, "payout_not_share"},
		{"bad credential signature", c, ledger.Settle, func() string {
			// Signed by another key than its issuer's.
			parts := strings.Split(w.contribution(w.key, c, nil), ".")
			input := parts[0] + "." + parts[1]
			return w.response(w.key, c, ledger.Settle, input+"."+base64.RawURLEncoding.EncodeToString(mallory.Sign([]byte(input))))
		}, trove.EFORBIDDEN, "bad_contribution"},
		{"plain acknowledgement of a share claim", c, ledger.Acknowledge, func() string {
			return w.response(w.key, c, ledger.Acknowledge, "")
		}, trove.ECONFLICT, "settlement_required"},
		{"settle response replayed onto another claim", second, ledger.Settle, func() string {
			return w.response(w.key, c, ledger.Settle, w.contribution(w.key, c, nil))
		}, trove.EFORBIDDEN, "wrong_claim"},
		{"settlement of a claim without the rule", plain, ledger.Settle, func() string {
			return w.response(w.key, plain, ledger.Settle, w.contribution(w.key, plain, nil))
		}, trove.ECONFLICT, "no_share_rule"},
		{"settlement sent as an acknowledgement", c, ledger.Acknowledge, func() string {
			return w.response(w.key, c, ledger.Settle, w.contribution(w.key, c, nil))
		}, trove.EINVALID, ""},
		{"garbage", c, ledger.Settle, func() string { return "a.b.c" }, trove.EFORBIDDEN, "bad_response"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			size, err := w.vault.LogSize(w.ctx)
			if err != nil {
				t.Fatal(err)
			}
			_, err = w.vault.RespondClaim(w.ctx, tc.claim.ID, tc.action, tc.token())
			if trove.ErrorCode(err) != tc.code || trove.ErrorReason(err) != tc.reason {
				t.Fatalf("got %v (%s, %s); want %s, %s", err, trove.ErrorCode(err), trove.ErrorReason(err), tc.code, tc.reason)
			}
			got, err := w.vault.Claim(w.ctx, tc.claim.ID)
			if err != nil || got.State != ledger.ClaimOwed || got.Settled != nil || got.Contribution != "" || got.Response != "" || got.Amount != sharePrice {
				t.Fatalf("the claim changed: %+v, %v", got, err)
			}
			if n, _ := w.vault.LogSize(w.ctx); n != size {
				t.Fatalf("the log grew from %d to %d", size, n)
			}
		})
	}
	// A share claim can still be disputed, and the right settlement still
	// goes through after all the refusals.
	if d, err := w.vault.RespondClaim(w.ctx, second.ID, ledger.Dispute, disputeOf(t, w, second)); err != nil || d.State != ledger.ClaimStateDisputed {
		t.Fatalf("dispute of a share claim: %+v, %v", d, err)
	}
	if s, err := w.vault.RespondClaim(w.ctx, c.ID, ledger.Settle, w.response(w.key, c, ledger.Settle, w.contribution(w.key, c, nil))); err != nil ||
		*s.Settled != sharePrice {
		t.Fatalf("settlement after the refusals: %+v, %v", s, err)
	}
}

func disputeOf(t *testing.T, w *shareWorld, c *ledger.Claim) string {
	t.Helper()
	tok, err := ledger.SignClaimResponse(w.key, ledger.ClaimResponse{Requester: w.key.DID(), Vault: w.vault.DID(), ClaimID: c.ID,
		ReceiptIDs: []string{c.ReceiptID}, Action: ledger.Dispute, Reason: "the round never happened", IssuedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// The claims of a share consent whose price is 0 settle at a pool of 0
// only.
func TestSettleFreeRound(t *testing.T) {
	w := newShareWorld(t)
	now := time.Now()
	tok, err := consent.SignRequest(w.key, consent.Request{ID: "req-free", Vault: w.vault.DID(), Dataset: "d", Algorithm: "builtin:stats@1",
		Purpose: "training", PurposeCode: consent.PurposeModelTraining, MaxRuns: 2, Output: consent.OutputPolicy{Policy: consent.OutputRelease},
		Price: consent.Money{Amount: 0, Currency: "EUR"}, Per: consent.PerRound, Share: consent.ShareContribution, ExpiresAt: now.Add(time.Hour)}, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.vault.SubmitRequest(w.ctx, tok); err != nil {
		t.Fatal(err)
	}
	r, err := w.vault.Approve(w.ctx, "req-free")
	if err != nil {
		t.Fatal(err)
	}
	c := w.run(r.Credential)
	paid := w.response(w.key, c, ledger.Settle, w.contribution(w.key, c, nil))
	if _, err := w.vault.RespondClaim(w.ctx, c.ID, ledger.Settle, paid); trove.ErrorReason(err) != "pool_not_multiple" {
		t.Fatalf("a pool of 40 on a free round: %v", err)
	}
	free := w.response(w.key, c, ledger.Settle, w.contribution(w.key, c, func(cc *consent.Contribution) { cc.Pool.Amount, cc.Payout.Amount = 0, 0 }))
	if got, err := w.vault.RespondClaim(w.ctx, c.ID, ledger.Settle, free); err != nil || *got.Settled != 0 {
		t.Fatalf("a free round: %+v, %v", got, err)
	}
}

// Settlement across an owner key rotation: a claim signed by the retired
// DID and one signed by its successor are both settled with credentials
// naming the DID the coordinator knew when training began (the retired
// one); each response names the DID that signed its claim.
func TestSettleAcrossARotation(t *testing.T) {
	w := newShareWorld(t)
	old := w.vault.DID()
	before := w.run(w.shared)
	if _, err := w.vault.Rotate(w.ctx, testPass); err != nil {
		t.Fatal(err)
	}
	after := w.run(w.shared)
	if before.Vault != old || after.Vault != w.vault.DID() || after.Vault == old {
		t.Fatalf("claims signed by %s and %s; the vault was %s, is %s", before.Vault, after.Vault, old, w.vault.DID())
	}
	for _, c := range []*ledger.Claim{before, after} {
		cred := w.contribution(w.key, c, func(cc *consent.Contribution) { cc.Subject = old })
		resp, err := ledger.SignClaimResponse(w.key, ledger.ClaimResponse{Requester: w.key.DID(), Vault: c.Vault, ClaimID: c.ID,
			ReceiptIDs: []string{c.ReceiptID}, Action: ledger.Settle, Contribution: cred, IssuedAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		got, err := w.vault.RespondClaim(w.ctx, c.ID, ledger.Settle, resp)
		if err != nil {
			t.Fatalf("claim by %s: %v", c.Vault, err)
		}
		if got.State != ledger.ClaimStateSettled || got.Settled == nil || *got.Settled != sharePrice {
			t.Fatalf("claim by %s settled as %+v", c.Vault, got)
		}
	}
	// A credential for a DID the owner never had is still refused.
	stranger, err := did.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := w.run(w.shared)
	cred := w.contribution(w.key, c, func(cc *consent.Contribution) { cc.Subject = stranger.DID() })
	if _, err := w.vault.RespondClaim(w.ctx, c.ID, ledger.Settle, w.response(w.key, c, ledger.Settle, cred)); trove.ErrorReason(err) != "contribution_subject" {
		t.Fatalf("a credential for a stranger: %v", err)
	}
	if _, err := w.vault.VerifyLog(w.ctx); err != nil {
		t.Fatal(err)
	}
}
