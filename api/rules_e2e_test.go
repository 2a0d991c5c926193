package api_test

import (
	"testing"
	"time"

	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/ledger"
	"github.com/trove-project/trove/vault"
)

// newestEntry returns the log's newest entry.
func (w *world) newestEntry() ledger.Entry {
	w.t.Helper()
	n, err := w.vault.LogSize(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	b, err := w.vault.LogEntry(w.ctx, n-1)
	if err != nil {
		w.t.Fatal(err)
	}
	e, err := ledger.ParseEntry(b)
	if err != nil {
		w.t.Fatal(err)
	}
	return *e
}

// A standing rule decides a request as it arrives, and the decision is
// logged with the rule's id and the rule set's hash, which the catalog
// publishes.
func TestStandingRulesDecideAndAreLogged(t *testing.T) {
	w := newWorld(t)
	p, err := consent.ParsePolicy([]byte(`{"version":1,"rules":[
		{"id":"no-marketing","decision":"deny","purpose_codes":["marketing"]},
		{"id":"stats","decision":"approve","algorithms":["builtin:stats@1"],"max_runs":5}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.vault.SetPolicy(w.ctx, p); err != nil {
		t.Fatal(err)
	}
	if e := w.newestEntry(); e.Type != ledger.PolicySet || e.Fields["rule_set"] != p.Hash() {
		t.Fatalf("policy change logged as %+v", e)
	}
	cat, err := w.client.Catalog(w.ctx)
	if err != nil || cat.Policy.Hash != p.Hash() {
		t.Fatalf("catalog: %+v, %v", cat.Policy, err)
	}

	id := w.send(w.key, w.request(w.key, "builtin:stats@1", 5, time.Hour))
	st, err := w.client.ConsentRequest(w.ctx, id)
	if err != nil || st.State != vault.Approved || st.Credential == "" {
		t.Fatalf("request within the rule: %+v, %v", st, err)
	}
	if e := w.newestEntry(); e.Type != ledger.RequestApproved || e.Fields["by"] != "rule" || e.Fields["rule_id"] != "stats" || e.Fields["rule_set"] != p.Hash() {
		t.Fatalf("automatic approval logged as %+v", e)
	}
	job, err := w.client.SubmitJob(w.ctx, apiJob(w.present(w.key, st.Credential)))
	if err != nil || job.State != vault.JobSucceeded {
		t.Fatalf("job under a rule-issued consent: %v", err)
	}

	req := w.request(w.key, "builtin:stats@1", 1, time.Hour)
	req.PurposeCode = consent.PurposeMarketing
	st, err = w.client.ConsentRequest(w.ctx, w.send(w.key, req))
	if err != nil || st.State != vault.Denied {
		t.Fatalf("marketing request: %+v, %v", st, err)
	}
	if e := w.newestEntry(); e.Type != ledger.RequestDenied || e.Fields["rule_id"] != "no-marketing" || e.Fields["rule_set"] != p.Hash() {
		t.Fatalf("automatic denial logged as %+v", e)
	}

	id = w.ask(w.key, "builtin:stats@1", 6, time.Hour)
	if st, err := w.client.ConsentRequest(w.ctx, id); err != nil || st.State != vault.Pending {
		t.Fatalf("request beyond the rule: %+v, %v", st, err)
	}
}
