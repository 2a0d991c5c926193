package api_test

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/did"
	"github.com/trove-project/trove/ledger"
	"github.com/trove-project/trove/requester"
	"github.com/trove-project/trove/vault"
)

func (w *world) requester() *requester.Requester {
	w.t.Helper()
	r, err := requester.Init(filepath.Join(w.t.TempDir(), "req"), []byte("pass"), requester.Options{WorkFactor: 10, Now: w.clock.Now})
	if err != nil {
		w.t.Fatal(err)
	}
	return r
}

func (w *world) requesterAsk(r *requester.Requester) string {
	w.t.Helper()
	st, err := r.RequestConsent(w.ctx, w.client, requester.Ask{
		Dataset: dsName, Algorithm: "builtin:stats@1", Purpose: "research", PurposeCode: consent.PurposeResearch, MaxRuns: 5,
		Output: consent.OutputPolicy{Policy: consent.OutputRelease},
		Price:  consent.Money{Amount: 100, Currency: "EUR"}, Per: consent.PerRun, Validity: 24 * time.Hour,
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return st.ID
}

// The owner answers with narrower terms; the requester sees them signed,
// accepts, and gets a credential for exactly those terms. Each step is
// logged.
func TestCounterOfferAccepted(t *testing.T) {
	w := newWorld(t)
	r := w.requester()
	id := w.requesterAsk(r)
	if _, err := w.vault.Counter(w.ctx, id, vault.Narrowing{MaxRuns: 9}); trove.ErrorReason(err) != "not_narrower" {
		t.Fatalf("a wider counter-offer: %v", err)
	}
	end := w.clock.Now().Add(2 * time.Hour).Truncate(time.Second)
	cr, err := w.vault.Counter(w.ctx, id, vault.Narrowing{MaxRuns: 2, ExpiresAt: end, Columns: []string{"mean_radius"}, Price: 200})
	if err != nil || cr.State != vault.Countered {
		t.Fatalf("counter: %+v, %v", cr, err)
	}
	if e := w.newestEntry(); e.Type != ledger.RequestCountered || e.Fields["request_id"] != id {
		t.Fatalf("counter logged as %+v", e)
	}
	if _, err := w.vault.Approve(w.ctx, id); trove.ErrorCode(err) != trove.ECONFLICT {
		t.Fatalf("approving a countered request: %v", err)
	}
	co, err := r.CounterOffer(w.ctx, w.client, id)
	if err != nil || co.Terms.MaxRuns != 2 || co.Terms.Price.Amount != 200 || !co.ExpiresAt.Equal(end) {
		t.Fatalf("counter-offer seen: %+v, %v", co, err)
	}
	st, cred, err := r.AnswerCounter(w.ctx, w.client, id, consent.Accept)
	if err != nil || st.State != vault.Approved || cred == nil {
		t.Fatalf("accept: %+v, %v", st, err)
	}
	if cred.Terms.MaxRuns != 2 || !slices.Equal(cred.Terms.Columns, []string{"mean_radius"}) || cred.Terms.Price.Amount != 200 || !cred.Expires.Equal(end) {
		t.Fatalf("credential terms %+v until %s", cred.Terms, cred.Expires)
	}
	if e := w.newestEntry(); e.Type != ledger.RequestApproved || e.Fields["by"] != "requester" || e.Fields["counter_id"] == "" {
		t.Fatalf("acceptance logged as %+v", e)
	}
	run, err := r.RunJob(w.ctx, w.client, cred.Raw, nil, nil)
	if err != nil || run.Job.Claim.Amount != 200 {
		t.Fatalf("job under the counter terms: %v", err)
	}
	if _, _, err := r.AnswerCounter(w.ctx, w.client, id, consent.Accept); trove.ErrorCode(err) != trove.ECONFLICT {
		t.Fatalf("answering twice: %v", err)
	}
}

func TestCounterOfferDeclined(t *testing.T) {
	w := newWorld(t)
	r := w.requester()
	id := w.requesterAsk(r)
	if _, err := w.vault.Counter(w.ctx, id, vault.Narrowing{MaxRuns: 1}); err != nil {
		t.Fatal(err)
	}
	st, cred, err := r.AnswerCounter(w.ctx, w.client, id, consent.Decline)
	if err != nil || st.State != vault.Denied || cred != nil {
		t.Fatalf("decline: %+v, %v", st, err)
	}
	if e := w.newestEntry(); e.Type != ledger.RequestDenied || e.Fields["by"] != "requester" {
		t.Fatalf("decline logged as %+v", e)
	}
}

// Only the requester answers, with a signed reply.
func TestCounterOfferAnswerRefused(t *testing.T) {
	w := newWorld(t)
	r := w.requester()
	id := w.requesterAsk(r)
	cr, err := w.vault.Counter(w.ctx, id, vault.Narrowing{MaxRuns: 1})
	if err != nil {
		t.Fatal(err)
	}
	co, err := r.CounterOffer(w.ctx, w.client, id)
	if err != nil {
		t.Fatal(err)
	}
	mallory, err := did.FromSeed(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	reply, err := consent.SignReply(mallory, co, consent.Accept, w.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.client.AnswerCounter(w.ctx, id, reply); trove.ErrorReason(err) != "not_requester" {
		t.Fatalf("an answer by another DID: %v", err)
	}
	if _, err := w.client.AnswerCounter(w.ctx, id, cr.CounterOffer); trove.ErrorCode(err) != trove.EFORBIDDEN {
		t.Fatalf("the counter-offer sent back as an answer: %v", err)
	}
	if _, err := r.CounterOffer(w.ctx, w.client, id); err != nil {
		t.Fatalf("after refused answers, the counter-offer no longer waits: %v", err)
	}
}
