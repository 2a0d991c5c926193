package api_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/api"
	"github.com/trove-project/trove/compute"
	"github.com/trove-project/trove/ledger"
	"github.com/trove-project/trove/vault"
)

func (w *world) runStats(cred, params string) (*vault.Job, error) {
	w.t.Helper()
	return w.client.SubmitJob(w.ctx, api.JobBody{Presentation: w.present(w.key, cred), Algorithm: "builtin:stats@1", Params: json.RawMessage(params)})
}

// Under the review policy a result waits for the owner: the requester sees
// "awaiting owner review" and no result until the owner releases it (then
// it comes with a receipt and a claim) or withholds it (then nothing).
func TestReviewPolicyHoldsResults(t *testing.T) {
	w := newWorld(t)
	if _, err := w.vault.SetPrivacy(w.ctx, dsName, compute.OutputPolicy{Kind: compute.PolicyReview}, 0, 0); err != nil {
		t.Fatal(err)
	}
	cred := w.consent("builtin:stats@1", 2, time.Hour)
	first, err := w.runStats(cred, "")
	if err != nil {
		t.Fatal(err)
	}
	if first.State != vault.JobAwaitingReview || first.Reason != "awaiting owner review" || first.Result != nil || first.Receipt != nil {
		t.Fatalf("held job as the requester sees it: %+v", first)
	}
	got, err := w.client.Job(w.ctx, first.ID)
	if err != nil || got.State != vault.JobAwaitingReview || got.Result != nil {
		t.Fatalf("GET held job: %+v, %v", got, err)
	}
	seen, err := w.vault.ReviewJob(w.ctx, first.ID)
	if err != nil || len(seen.Result) == 0 {
		t.Fatalf("owner review: %v", err)
	}
	rel, err := w.vault.ReleaseJob(w.ctx, first.ID)
	if err != nil || rel.State != vault.JobSucceeded {
		t.Fatalf("release: %+v, %v", rel, err)
	}
	if _, err := w.vault.ReleaseJob(w.ctx, first.ID); trove.ErrorCode(err) != trove.ECONFLICT {
		t.Fatalf("second release: %v, want conflict", err)
	}
	got, err = w.client.Job(w.ctx, first.ID)
	if err != nil || got.State != vault.JobSucceeded || string(got.Result) != string(seen.Result) || got.Claim == nil {
		t.Fatalf("GET released job: %+v, %v", got, err)
	}
	if rc, _, err := ledger.VerifyReceipt(got.Receipt, w.vault.DID()); err != nil || rc.JobID != first.ID {
		t.Fatalf("receipt of a released job: %v", err)
	}

	second, err := w.runStats(cred, "")
	if err != nil || second.State != vault.JobAwaitingReview {
		t.Fatalf("second job: %+v, %v", second, err)
	}
	if _, err := w.vault.WithholdJob(w.ctx, second.ID); err != nil {
		t.Fatal(err)
	}
	got, err = w.client.Job(w.ctx, second.ID)
	if err != nil || got.State != vault.JobWithheld || got.Result != nil || got.Receipt != nil || got.Claim != nil {
		t.Fatalf("GET withheld job: %+v, %v", got, err)
	}
	if _, err := w.vault.ReleaseJob(w.ctx, second.ID); trove.ErrorCode(err) != trove.ECONFLICT {
		t.Fatalf("releasing a withheld job: %v, want conflict", err)
	}
	if _, err := w.vault.VerifyLog(w.ctx); err != nil {
		t.Fatal(err)
	}
}

// Under the dp policy only noised statistics leave, each job is charged to
// the dataset's lifetime budget, and the job that would go over it is
// refused before it runs, with the refusal logged.
func TestDPPolicySpendsTheBudgetThenRefuses(t *testing.T) {
	w := newWorld(t)
	perJob := compute.OutputPolicy{Kind: compute.PolicyDP, Epsilon: 1, Delta: 1e-6}
	// ρ per job = RhoFor(1, 1e-6) ≈ 0.0175; budget RhoFor(2, 1e-5) ≈ 0.080: four jobs.
	if _, err := w.vault.SetPrivacy(w.ctx, dsName, perJob, 2, 1e-5); err != nil {
		t.Fatal(err)
	}
	cred := w.consent("builtin:stats@1", 10, time.Hour)
	jobs := int(compute.RhoFor(2, 1e-5) / perJob.Rho())
	if jobs != 4 {
		t.Fatalf("the budget covers %d jobs; the test expects 4", jobs)
	}
	var lastLeft float64 = 2
	for i := range jobs {
		job, err := w.runStats(cred, `{"bounds":{"mean_radius":[0,40]}}`)
		if err != nil || job.State != vault.JobSucceeded {
			t.Fatalf("dp job %d: %+v, %v", i, job, err)
		}
		var res struct {
			DP      struct{ Epsilon, Delta float64 }
			Columns []struct {
				Name string
				Mean *float64
				Min  *float64
			}
		}
		if err := json.Unmarshal(job.Result, &res); err != nil {
			t.Fatal(err)
		}
		if res.DP.Epsilon != 1 || res.DP.Delta != 1e-6 || len(res.Columns) != 1 || res.Columns[0].Name != "mean_radius" || res.Columns[0].Min != nil {
			t.Fatalf("dp result %s", job.Result)
		}
		p, err := w.vault.Privacy(w.ctx, dsName)
		if err != nil {
			t.Fatal(err)
		}
		if !(p.LeftEpsilon < lastLeft) || p.SpentEpsilon <= 0 {
			t.Fatalf("after job %d: spent %g, left %g (before: %g)", i, p.SpentEpsilon, p.LeftEpsilon, lastLeft)
		}
		rc, _, err := ledger.VerifyReceipt(job.Receipt, w.vault.DID())
		if err != nil {
			t.Fatal(err)
		}
		if rc.Policy != compute.PolicyDP || rc.DP == nil || rc.DP.Epsilon != 1 || rc.DP.LeftEpsilon != p.LeftEpsilon || rc.DP.SpentEpsilon != p.SpentEpsilon {
			t.Fatalf("receipt policy %q, dp %+v; budget %+v", rc.Policy, rc.DP, p)
		}
		lastLeft = p.LeftEpsilon
	}
	_, err := w.runStats(cred, `{"bounds":{"mean_radius":[0,40]}}`)
	w.expectRefused(err, "budget_exhausted")
	// A module has no private form: refused under dp.
	module := hostile(t)
	h := compute.ModuleHash(module)
	mcred := w.consent(h, 3, time.Hour)
	_, err = w.client.SubmitJob(w.ctx, api.JobBody{Presentation: w.present(w.key, mcred), Algorithm: h, Module: module, Params: json.RawMessage(`{"mode":"escape"}`)})
	w.expectRefused(err, "dp_unsupported")
}
