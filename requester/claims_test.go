package requester_test

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/api"
	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/did"
	"github.com/trove-project/trove/ledger"
	"github.com/trove-project/trove/requester"
	"github.com/trove-project/trove/vault"
)

// served is a vault served over HTTP and a requester holding an approved
// consent for builtin:stats@1 at 125 EUR per run.
type served struct {
	vault      *vault.Vault
	home       string
	client     *api.Client
	req        *requester.Requester
	credential string
}

func newServed(t *testing.T) *served {
	t.Helper()
	return newServedAsk(t, requester.Ask{Dataset: "d", Algorithm: "builtin:stats@1", Purpose: "research",
		PurposeCode: consent.PurposeResearch, Output: consent.OutputPolicy{Policy: consent.OutputRelease}, Per: consent.PerRun, MaxRuns: 10, Price: consent.Money{Amount: 125, Currency: "EUR"}, Validity: time.Hour})
}

// newServedAsk is newServed with the consent asked for by ask.
func newServedAsk(t *testing.T, ask requester.Ask) *served {
	t.Helper()
	ctx := context.Background()
	home := filepath.Join(t.TempDir(), "vault")
	v, err := vault.Create(ctx, vault.Config{Home: home, WorkFactor: 10}, []byte("p"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	if _, err := v.Import(ctx, "d", bytes.NewReader([]byte("x,y\n1,2\n3,5\n8,13\n")), vault.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	srv := api.NewServer(v, "127.0.0.1:0", nil)
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(ctx) })
	client, err := api.NewClient(srv.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := requester.Init(filepath.Join(t.TempDir(), "r"), []byte("p"), requester.Options{WorkFactor: 10})
	if err != nil {
		t.Fatal(err)
	}
	st, err := r.RequestConsent(ctx, client, ask)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Approve(ctx, st.ID); err != nil {
		t.Fatal(err)
	}
	if st, _, err = r.RequestStatus(ctx, client, st.ID); err != nil {
		t.Fatal(err)
	}
	return &served{vault: v, home: home, client: client, req: r, credential: st.Credential}
}

func (s *served) run(t *testing.T) *ledger.Claim {
	t.Helper()
	run, err := s.req.RunJob(context.Background(), s.client, s.credential, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return run.Job.Claim
}

// A requester acknowledges a claim after verifying it and its receipt,
// or disputes one with a reason; both are signed, logged, and shown with
// the claim. A vault that serves an amount other than the one it signed
// gets no acknowledgement.
func TestAcknowledgeAndDisputeClaims(t *testing.T) {
	ctx := context.Background()
	s := newServed(t)
	c1, c2, c3 := s.run(t), s.run(t), s.run(t)
	if c1.Token == "" || c1.Per != ledger.PerRun || c1.Amount != 125 {
		t.Fatalf("claim %+v", c1)
	}

	acked, err := s.req.AcknowledgeClaim(ctx, s.client, c1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if acked.State != ledger.ClaimStateAcknowledged || acked.Response == "" || acked.RespondedAt == nil {
		t.Fatalf("acknowledged claim %+v", acked)
	}
	resp, err := ledger.VerifyClaimResponse(acked.Response)
	if err != nil || resp.Requester != s.req.DID() || resp.ClaimID != c1.ID || resp.ReceiptIDs[0] != c1.ReceiptID {
		t.Fatalf("acknowledgement %+v: %v", resp, err)
	}
	if e := lastLogged(t, s.vault); e.Type != ledger.ClaimAcknowledged || e.Fields["claim_id"] != c1.ID {
		t.Fatalf("logged %+v", e)
	}
	if _, err := s.req.DisputeClaim(ctx, s.client, c1.ID, "changed my mind"); trove.ErrorCode(err) != trove.ECONFLICT {
		t.Fatalf("dispute after acknowledgement: %v", err)
	}

	reason := "the result was empty"
	disputed, err := s.req.DisputeClaim(ctx, s.client, c2.ID, reason)
	if err != nil {
		t.Fatal(err)
	}
	if disputed.State != ledger.ClaimStateDisputed || disputed.Reason != reason || disputed.Token == "" || disputed.Response == "" {
		t.Fatalf("disputed claim %+v", disputed)
	}
	e := lastLogged(t, s.vault)
	if e.Type != ledger.ClaimDisputed || e.Fields["reason_sha256"] == "" || strings.Contains(string(mustJSON(t, e)), reason) {
		t.Fatalf("logged %+v; want the dispute with the reason's digest, not the reason", e)
	}
	// The disputed claim stays visible with both statements.
	got, err := s.req.Signed(s.client).Claim(ctx, c2.ID)
	if err != nil || got.State != ledger.ClaimStateDisputed || got.Token != c2.Token || got.Response != disputed.Response || got.Reason != reason {
		t.Fatalf("disputed claim served as %+v (%v)", got, err)
	}
	if _, err := s.req.DisputeClaim(ctx, s.client, c3.ID, ""); trove.ErrorCode(err) != trove.EINVALID {
		t.Fatalf("dispute without a reason: %v", err)
	}

	// The vault raises c3's amount in its database: the signed claim says
	// otherwise, and the requester refuses to acknowledge.
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(s.home, vault.DatabaseFile)+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `UPDATE claims SET amount = 9999 WHERE id = ?`, c3.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.req.AcknowledgeClaim(ctx, s.client, c3.ID); trove.ErrorReason(err) != "bad_claim" {
		t.Fatalf("acknowledge a claim served with another amount: %v", err)
	}
	if _, err := s.vault.VerifyLog(ctx); err != nil {
		t.Fatal(err)
	}
}

// The vault takes only a response by the claim's requester, for this
// vault, the claim and its receipts, of the kind the endpoint is for.
func TestVaultRefusesForeignClaimResponses(t *testing.T) {
	ctx := context.Background()
	s := newServed(t)
	c := s.run(t)
	other, err := did.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	good := ledger.ClaimResponse{Requester: other.DID(), Vault: s.vault.DID(), ClaimID: c.ID, ReceiptIDs: []string{c.ReceiptID}, Action: ledger.Acknowledge, IssuedAt: now}
	token, err := ledger.SignClaimResponse(other, good)
	if err != nil {
		t.Fatal(err)
	}
	// Sent by the other requester itself, over its own signed requests.
	stranger := s.client.As(other, nil, nil)
	if _, err := stranger.RespondClaim(ctx, c.ID, ledger.Acknowledge, token); trove.ErrorCode(err) != trove.EFORBIDDEN {
		t.Fatalf("acknowledgement by another requester: %v", err)
	}
	if _, err := stranger.RespondClaim(ctx, c.ID, ledger.Dispute, token); trove.ErrorCode(err) != trove.EINVALID {
		t.Fatalf("acknowledgement sent as a dispute: %v", err)
	}
	if _, err := stranger.RespondClaim(ctx, c.ID, ledger.Acknowledge, "a.b.c"); trove.ErrorCode(err) != trove.EFORBIDDEN {
		t.Fatalf("garbage response: %v", err)
	}
	if _, err := stranger.RespondClaim(ctx, "claim_nope", ledger.Acknowledge, token); trove.ErrorCode(err) == "" {
		t.Fatal("response to an unknown claim accepted")
	}
	got, err := s.req.Signed(s.client).Claim(ctx, c.ID)
	if err != nil || got.State != ledger.ClaimOwed {
		t.Fatalf("claim after refused responses: %+v, %v", got, err)
	}
}

func lastLogged(t *testing.T, v *vault.Vault) *ledger.Entry {
	t.Helper()
	ctx := context.Background()
	n, err := v.LogSize(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := v.LogEntry(ctx, n-1)
	if err != nil {
		t.Fatal(err)
	}
	e, err := ledger.ParseEntry(b)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func mustJSON(t *testing.T, e *ledger.Entry) []byte {
	t.Helper()
	b, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The receipt's params hash is over the parameters as sent, so a run
// with parameters that JSON encoding escapes still verifies.
func TestRunWithParamsVerifies(t *testing.T) {
	s := newServed(t)
	run, err := s.req.RunJob(context.Background(), s.client, s.credential, nil, []byte(`{ "note": "<b> & </b>" }`))
	if err != nil {
		t.Fatal(err)
	}
	if run.Receipt.ParamsSHA256 == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Fatal("params hash of a run with parameters is the empty string's")
	}
}

// A claim under the share rule is settled, not acknowledged: the
// requester checks the Contribution credential against the claim, signs
// a settlement carrying it, and the vault records the payout.
func TestSettleShareClaim(t *testing.T) {
	ctx := context.Background()
	s := newServedAsk(t, requester.Ask{Dataset: "d", Algorithm: "builtin:stats@1", Purpose: "training", PurposeCode: consent.PurposeModelTraining,
		Output: consent.OutputPolicy{Policy: consent.OutputRelease}, Per: consent.PerRound, Share: consent.ShareContribution, MaxRuns: 10,
		Price: consent.Money{Amount: 40, Currency: "EUR"}, Validity: time.Hour})
	c1, c2 := s.run(t), s.run(t)
	if c1.Share != ledger.ShareContribution || c1.Amount != 40 {
		t.Fatalf("claim %+v", c1)
	}
	if _, err := s.req.AcknowledgeClaim(ctx, s.client, c1.ID); trove.ErrorReason(err) != "settlement_required" {
		t.Fatalf("acknowledging a share claim: %v", err)
	}
	contribution := func(c *ledger.Claim, payout int64, share float64) string {
		t.Helper()
		tok, err := s.req.IssueContribution(consent.Contribution{Subject: s.vault.DID(), Training: "t", Round: 1, Share: share,
			Pool: consent.Money{Amount: 3 * 40, Currency: "EUR"}, Payout: consent.Money{Amount: payout, Currency: "EUR"}, ReceiptID: c.ReceiptID})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	// The requester's own check refuses a credential for another receipt
	// before signing anything; sent unchecked, the vault refuses it too.
	wrong := contribution(c2, 60, 0.5)
	if _, err := s.req.SettleClaim(ctx, s.client, c1.ID, wrong); trove.ErrorReason(err) != "bad_contribution" {
		t.Fatalf("settling with another receipt's credential: %v", err)
	}
	if _, err := s.req.Settle(ctx, s.client, c1, wrong); trove.ErrorReason(err) != "contribution_receipt" {
		t.Fatalf("the vault took another receipt's credential: %v", err)
	}
	settled, err := s.req.SettleClaim(ctx, s.client, c1.ID, contribution(c1, 60, 0.5))
	if err != nil {
		t.Fatal(err)
	}
	if settled.State != ledger.ClaimStateSettled || settled.Settled == nil || *settled.Settled != 60 {
		t.Fatalf("settled claim %+v", settled)
	}
	if e := lastLogged(t, s.vault); e.Type != ledger.ClaimSettled || e.Fields["amount"] != "60" || e.Fields["claim_id"] != c1.ID {
		t.Fatalf("logged %+v", e)
	}
	checked, err := s.req.CheckClaim(ctx, s.client, c1.ID)
	if err != nil || checked.Claim.State != ledger.ClaimStateSettled || *checked.Claim.Settled != 60 || checked.Expected != 40 {
		t.Fatalf("checked settled claim %+v, %v", checked, err)
	}
	// A share claim can be disputed; a plain claim cannot be settled.
	if d, err := s.req.DisputeClaim(ctx, s.client, c2.ID, "no such round"); err != nil || d.State != ledger.ClaimStateDisputed {
		t.Fatalf("dispute of a share claim: %+v, %v", d, err)
	}
	p := newServed(t)
	pc := p.run(t)
	if _, err := p.req.SettleClaim(ctx, p.client, pc.ID, contribution(c1, 60, 0.5)); trove.ErrorReason(err) != "no_share_rule" {
		t.Fatalf("settling a plain claim: %v", err)
	}
}

// After the vault's key rotation, a claim signed by the new DID is
// settled through the CLI's checked path with a credential naming the DID
// the coordinator knew when training began (the retired one): the
// requester has followed the rotation, so it knows the two are the same
// vault. A credential naming a DID that is no predecessor is refused.
func TestSettleShareClaimAcrossARotation(t *testing.T) {
	ctx := context.Background()
	s := newServedAsk(t, requester.Ask{Dataset: "d", Algorithm: "builtin:stats@1", Purpose: "training", PurposeCode: consent.PurposeModelTraining,
		Output: consent.OutputPolicy{Policy: consent.OutputRelease}, Per: consent.PerRound, Share: consent.ShareContribution, MaxRuns: 10,
		Price: consent.Money{Amount: 40, Currency: "EUR"}, Validity: time.Hour})
	old := s.vault.DID()
	s.run(t) // a checkpoint kept from the old DID
	if _, err := s.vault.Rotate(ctx, []byte("p")); err != nil {
		t.Fatal(err)
	}
	c := s.run(t) // followed through the chain
	if c.Vault == old || c.Vault != s.vault.DID() {
		t.Fatalf("claim signed by %s; the vault was %s, is %s", c.Vault, old, s.vault.DID())
	}
	contribution := func(subject string) string {
		t.Helper()
		tok, err := s.req.IssueContribution(consent.Contribution{Subject: subject, Training: "t", Round: 1, Share: 0.5,
			Pool: consent.Money{Amount: 2 * 40, Currency: "EUR"}, Payout: consent.Money{Amount: 40, Currency: "EUR"}, ReceiptID: c.ReceiptID})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	stranger, err := did.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.req.SettleClaim(ctx, s.client, c.ID, contribution(stranger.DID())); trove.ErrorReason(err) != "bad_contribution" {
		t.Fatalf("a credential for a stranger: %v", err)
	}
	settled, err := s.req.SettleClaim(ctx, s.client, c.ID, contribution(old))
	if err != nil {
		t.Fatal(err)
	}
	if settled.State != ledger.ClaimStateSettled || settled.Settled == nil || *settled.Settled != 40 {
		t.Fatalf("settled claim %+v", settled)
	}
}
