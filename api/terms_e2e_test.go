package api_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/api"
	"github.com/trove-project/trove/compute"
	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/vault"
)

// approve approves the request id and returns its credential.
func (w *world) approve(id string) string {
	w.t.Helper()
	r, err := w.vault.Approve(w.ctx, id)
	if err != nil {
		w.t.Fatal(err)
	}
	return r.Credential
}

// The algorithm sees only the consented columns, and the credential names
// them with the rest of the terms.
func TestJobReadsOnlyConsentedColumns(t *testing.T) {
	w := newWorld(t)
	req := w.request(w.key, "builtin:stats@1", 2, time.Hour)
	req.Columns = []string{"mean_texture", "mean_radius"}
	req.Per = consent.Per1000Rows
	cred := w.approve(w.send(w.key, req))
	c, err := consent.VerifyCredential(cred, w.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Terms.Columns, req.Columns) || c.Terms.PurposeCode != consent.PurposeResearch ||
		c.Terms.Output.Policy != consent.OutputRelease || c.Terms.Per != consent.Per1000Rows || c.Terms.DatasetDigest != w.digest {
		t.Fatalf("credential terms %+v", c.Terms)
	}
	job, err := w.client.SubmitJob(w.ctx, api.JobBody{Presentation: w.present(w.key, cred), Algorithm: "builtin:stats@1"})
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Columns []struct {
			Name string `json:"name"`
		} `json:"columns"`
	}
	if err := json.Unmarshal(job.Result, &res); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, col := range res.Columns {
		names = append(names, col.Name)
	}
	if !slices.Equal(names, req.Columns) {
		t.Fatalf("the algorithm saw columns %v; the consent allows %v", names, req.Columns)
	}
	// 569 rows: one started thousand.
	if job.Claim == nil || job.Claim.Amount != 125 {
		t.Fatalf("claim %+v", job.Claim)
	}
}

// A request without columns is granted every column of the dataset,
// written out in the credential.
func TestApprovalWritesOutAllColumns(t *testing.T) {
	w := newWorld(t)
	cred := w.consent("builtin:stats@1", 1, time.Hour)
	c, err := consent.VerifyCredential(cred, w.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	ds, err := w.vault.Dataset(w.ctx, dsName)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Terms.Columns) != len(ds.Schema) || c.Terms.Columns[0] != ds.Schema[0].Name {
		t.Fatalf("columns %v", c.Terms.Columns)
	}
}

func TestRefusesRequestForUnknownColumn(t *testing.T) {
	w := newWorld(t)
	req := w.request(w.key, "builtin:stats@1", 1, time.Hour)
	req.Columns = []string{"mean_radius", "ssn"}
	token, err := consent.SignRequest(w.key, req, w.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.client.SubmitConsentRequest(w.ctx, token)
	if trove.ErrorCode(err) != trove.EINVALID || trove.ErrorReason(err) != "unknown_column" {
		t.Fatalf("got %v", err)
	}
}

// The credential's output policy is the one the job runs under: review
// holds the result for the owner, dp runs the built-in's private form.
func TestCredentialOutputPolicyGovernsTheJob(t *testing.T) {
	w := newWorld(t)
	req := w.request(w.key, "builtin:stats@1", 1, time.Hour)
	req.Output = consent.OutputPolicy{Policy: consent.OutputReview}
	cred := w.approve(w.send(w.key, req))
	job, err := w.client.SubmitJob(w.ctx, apiJob(w.present(w.key, cred)))
	if err != nil || job.State != vault.JobAwaitingReview || len(job.Result) != 0 {
		t.Fatalf("review job: %+v, %v", job, err)
	}

	if _, err := w.vault.SetPrivacy(w.ctx, dsName, compute.OutputPolicy{Kind: compute.PolicyRelease}, 10, 1e-5); err != nil {
		t.Fatal(err)
	}
	req = w.request(w.key, "builtin:stats@1", 1, time.Hour)
	req.ID += "-dp"
	req.Output = consent.OutputPolicy{Policy: consent.OutputDP, Epsilon: 1, Delta: 1e-6}
	cred = w.approve(w.send(w.key, req))
	job, err = w.client.SubmitJob(w.ctx, apiJob(w.present(w.key, cred)))
	if err != nil || job.State != vault.JobSucceeded || job.Policy != consent.OutputDP {
		t.Fatalf("dp job: %+v, %v", job, err)
	}
}

func apiJob(presentation string) api.JobBody {
	return api.JobBody{Presentation: presentation, Algorithm: "builtin:stats@1"}
}
