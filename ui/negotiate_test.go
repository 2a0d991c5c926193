package ui_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/internal/sampledata"
	"github.com/trove-project/trove/ledger"
	"github.com/trove-project/trove/requester"
	"github.com/trove-project/trove/vault"
)

// The owner narrows a request from its review page: fewer runs. The
// requester accepts the counter-offer and gets a credential for exactly
// those terms.
func TestBrowserNarrowARequest(t *testing.T) {
	w := newWorld(t)
	shots := screenshotDir(t)
	id := w.ask()
	ctx := tab(t)
	do(t, ctx, chromedp.Navigate(w.ui.LoginLink()), chromedp.WaitVisible(chromedp.CSS("main h1")),
		chromedp.Navigate(w.ui.URL()+"/requests/"+id), chromedp.WaitVisible(chromedp.ID("approve")),
		chromedp.Click(chromedp.CSS("#narrow summary")), chromedp.WaitVisible(chromedp.ID("c-runs")),
		chromedp.SetValue(chromedp.ID("c-runs"), "1"))
	screenshot(t, ctx, shots, "20-request-narrow")
	do(t, ctx, chromedp.Click(chromedp.ID("send-counter")), chromedp.WaitVisible(chromedp.CSS(".notice")))
	if got := text(t, ctx, ".notice"); !strings.HasPrefix(got, "Counter-offer sent") {
		t.Fatalf("after sending the counter-offer the page says %q", got)
	}
	if got := text(t, ctx, "#offer"); !strings.Contains(got, "1 run at most") {
		t.Fatalf("the countered request shows the offer as:\n%s", got)
	}
	if got := text(t, ctx, "nav"); strings.Contains(got, "Requests 1") {
		t.Fatalf("a countered request still counts as waiting for the owner: %q", got)
	}
	screenshot(t, ctx, shots, "21-request-countered")
	if r, err := w.vault.ConsentRequest(w.ctx, id); err != nil || r.State != vault.Countered {
		t.Fatalf("request after the counter-offer: %+v, %v", r, err)
	}
	st, cred, err := w.req.AnswerCounter(w.ctx, w.client, id, consent.Accept)
	if err != nil || st.State != vault.Approved || cred == nil || cred.Terms.MaxRuns != 1 || cred.Terms.Price.Amount != 250 {
		t.Fatalf("accepting the counter-offer: %+v, %+v, %v", st, cred, err)
	}
}

// The owner revokes a consent with one click and a confirmation; the
// requester's next job is refused, and the refusal is in the activity.
func TestBrowserRevokeAConsentAndSeeTheNextJobRefused(t *testing.T) {
	w := newWorld(t)
	shots := screenshotDir(t)
	id := w.ask()
	r, err := w.vault.Approve(w.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	w.run(id)
	ctx := tab(t)
	do(t, ctx, chromedp.Navigate(w.ui.LoginLink()), chromedp.WaitVisible(chromedp.CSS("main h1")),
		chromedp.Navigate(w.ui.URL()+"/consents"),
		chromedp.Click(chromedp.CSS(`a[href="/consents/`+r.ConsentID+`/revoke"]`)),
		chromedp.WaitVisible(chromedp.ID("confirm-revoke")))
	screenshot(t, ctx, shots, "22-consent-revoke-confirm")
	do(t, ctx, chromedp.Click(chromedp.ID("confirm-revoke")), chromedp.WaitVisible(chromedp.CSS(".notice")))
	if got := text(t, ctx, "main"); !strings.Contains(got, "Consent revoked") || !strings.Contains(got, "revoked") {
		t.Fatalf("after revoking the consents page shows:\n%s", got)
	}
	screenshot(t, ctx, shots, "23-consents-revoked")

	st, _, err := w.req.RequestStatus(w.ctx, w.client, id)
	if err != nil {
		t.Fatal(err)
	}
	if run, err := w.req.RunJob(w.ctx, w.client, st.Credential, w.module, nil); err == nil {
		t.Fatalf("a job under a revoked consent ran: %+v", run.Job)
	}
	es, err := w.vault.LogEntries(w.ctx, vault.LogFilter{Type: ledger.JobRejected})
	if err != nil || len(es) != 1 {
		t.Fatalf("refusals logged: %v, %v", es, err)
	}
	do(t, ctx, chromedp.Navigate(w.ui.URL()+"/activity"), chromedp.WaitVisible(chromedp.CSS(".timeline")))
	if got := text(t, ctx, ".timeline"); !strings.Contains(got, "A run was refused: you revoked its consent") || !strings.Contains(got, "You revoked a consent") {
		t.Fatalf("the activity does not show the revocation and the refusal:\n%s", got)
	}
	if err := w.vault.SetPolicy(w.ctx, &consent.Policy{Version: consent.PolicyVersion, Rules: []consent.Rule{
		{ID: "stats-for-research", Decision: consent.DecideApprove, Algorithms: []string{"builtin:stats@1"}, Purposes: []string{consent.PurposeResearch}, MaxRuns: 10},
		{ID: "no-marketing", Decision: consent.DecideDeny, Purposes: []string{consent.PurposeMarketing}},
	}}); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, chromedp.Navigate(w.ui.URL()+"/rules"), chromedp.WaitVisible(chromedp.ID("rule-summary")),
		chromedp.SetValue(chromedp.ID("t-alg"), "builtin:stats@1"), chromedp.Click(chromedp.ID("try-rules")),
		chromedp.WaitVisible(chromedp.ID("verdict")))
	if got := text(t, ctx, "#verdict"); !strings.Contains(got, "Approved at once, by rule stats-for-research") {
		t.Fatalf("trying a request on the rules page says %q", got)
	}
	screenshot(t, ctx, shots, "24-rules")
}

func TestCounterOfferFormRefusesWiderTerms(t *testing.T) {
	w := newWorld(t)
	id := w.ask()
	c, csrf := w.httpLogin()
	target := w.ui.URL() + "/requests/" + id + "/counter"
	x, err := w.vault.ConsentRequest(w.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	day := x.ExpiresAt.UTC().Format("2006-01-02")
	asked := func(change map[string]string) url.Values {
		f := url.Values{"csrf": {csrf}, "runs": {"3"}, "until": {day}, "price": {"2.50"}, "output": {"keep"}, "columns": {"mean_radius", "mean_texture"}}
		for k, v := range change {
			f.Set(k, v)
		}
		return f
	}
	for _, tc := range []struct {
		name   string
		change map[string]string
		want   string
	}{
		{"more runs", map[string]string{"runs": "4"}, "from 1 to 3"},
		{"no runs", map[string]string{"runs": "0"}, "from 1 to 3"},
		{"later end", map[string]string{"until": x.ExpiresAt.Add(48 * time.Hour).UTC().Format("2006-01-02")}, "at the latest"},
		{"not a date", map[string]string{"until": "soon"}, "as a date"},
		{"lower price", map[string]string{"price": "2.49", "runs": "2"}, "at least 2.50 EUR"},
		{"price with three decimals", map[string]string{"price": "2.501"}, "at least"},
		{"no column", map[string]string{"columns": "no_such_column"}, "at least one column"},
		{"unknown output", map[string]string{"output": "leak"}, "Choose what may leave"},
		{"dp without ε", map[string]string{"output": "dp"}, "With privacy noise, give ε"},
		{"too long", map[string]string{"runs": strings.Repeat("1", 100)}, "too long"},
	} {
		resp := postFormBody(t, c, target, asked(tc.change))
		if resp.code != http.StatusBadRequest || !strings.Contains(resp.body, tc.want) || !strings.Contains(resp.body, `id="problem"`) {
			t.Errorf("%s: %d, want 400 saying %q\n%s", tc.name, resp.code, tc.want, resp.body)
		}
	}
	if r, err := w.vault.ConsentRequest(w.ctx, id); err != nil || r.State != vault.Pending {
		t.Fatalf("refused counter-offers changed the request: %+v, %v", r, err)
	}
	if resp := postForm(t, c, target, asked(map[string]string{"output": "review", "price": "3"}), nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("a narrower counter-offer: %s", resp.Status)
	}
	if r, err := w.vault.ConsentRequest(w.ctx, id); err != nil || r.State != vault.Countered {
		t.Fatalf("after the counter-offer: %+v, %v", r, err)
	}
}

func TestRulesPage(t *testing.T) {
	w := newWorld(t)
	c, csrf := w.httpLogin()
	rules := `{"version": 1, "rules": [{"id": "stats-ok", "decision": "approve", "algorithms": ["builtin:stats@1"], "datasets": ["` + sampledata.BreastCancerName + `"], "max_runs": 10}]}`
	for _, bad := range []string{`{"version": 1, "rules": [{"id": "x", "decision": "maybe"}]}`, `not: [valid`, `{"version": 1, "rules": [], "extra": 1}`} {
		resp := postFormBody(t, c, w.ui.URL()+"/rules", url.Values{"csrf": {csrf}, "rules": {bad}})
		if resp.code != http.StatusBadRequest || !strings.Contains(resp.body, "were not saved") {
			t.Errorf("rules %q: %d\n%s", bad, resp.code, resp.body)
		}
	}
	if p, err := w.vault.Policy(w.ctx); err != nil || len(p.Rules) != 0 {
		t.Fatalf("refused rules were saved: %+v, %v", p, err)
	}
	if resp := postForm(t, c, w.ui.URL()+"/rules", url.Values{"csrf": {csrf}, "rules": {rules}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("saving rules: %s", resp.Status)
	}
	if p, err := w.vault.Policy(w.ctx); err != nil || len(p.Rules) != 1 || p.Rules[0].ID != "stats-ok" {
		t.Fatalf("saved rules: %+v, %v", p, err)
	}
	try := func(alg, runs string) string {
		q := url.Values{"requester": {w.req.DID()}, "dataset": {sampledata.BreastCancerName}, "algorithm": {alg}, "purpose": {"research"},
			"runs": {runs}, "days": {"30"}, "output": {"release"}, "price": {"1.00"}, "currency": {"EUR"}, "per": {"run"}}
		resp, err := c.Get(w.ui.URL() + "/rules?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("rules test: %s\n%s", resp.Status, b)
		}
		return string(b)
	}
	if got := try("builtin:stats@1", "5"); !strings.Contains(got, "Approved at once, by rule stats-ok") {
		t.Fatalf("a request the rule covers:\n%s", got)
	}
	if got := try("builtin:stats@1", "11"); !strings.Contains(got, "it would wait for you") {
		t.Fatalf("a request over the rule's runs:\n%s", got)
	}
	if got := try("builtin:stats@1", "many"); !strings.Contains(got, "Runs must be a whole number") {
		t.Fatalf("a malformed test request:\n%s", got)
	}
	// Rules can tell rounds paid in full from rounds shared by contribution.
	if resp := postForm(t, c, w.ui.URL()+"/rules", url.Values{"csrf": {csrf}, "rules": {"version: 1\nrules:\n  - {id: shared-rounds, decision: approve, per: [round], shares: [contribution]}\n"}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("saving share rules: %s", resp.Status)
	}
	tryShare := func(share string) string {
		q := url.Values{"requester": {w.req.DID()}, "dataset": {sampledata.BreastCancerName}, "algorithm": {"builtin:stats@1"}, "purpose": {"research"},
			"runs": {"2"}, "days": {"30"}, "output": {"release"}, "price": {"1.00"}, "currency": {"EUR"}, "per": {"round"}, "share": {share}}
		_, body := fetchPage(t, c, w.ui.URL()+"/rules?"+q.Encode())
		return body
	}
	if got := tryShare("contribution"); !strings.Contains(got, "Approved at once, by rule shared-rounds") || !strings.Contains(got, "pay shared by contribution") {
		t.Fatalf("a shared round under the share rule:\n%s", got)
	}
	if got := tryShare("none"); !strings.Contains(got, "it would wait for you") {
		t.Fatalf("a round paid in full under the share rule:\n%s", got)
	}
	if resp := postForm(t, c, w.ui.URL()+"/rules", url.Values{"csrf": {csrf}, "rules": {rules}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("restoring rules: %s", resp.Status)
	}

	// A real request the rule covers is approved at once, and the owner
	// sees which rule did it.
	st, err := w.req.RequestConsent(w.ctx, w.client, requester.Ask{
		Dataset: sampledata.BreastCancerName, Algorithm: "builtin:stats@1", Purpose: "stats", PurposeCode: consent.PurposeResearch,
		MaxRuns: 5, Output: consent.OutputPolicy{Policy: consent.OutputRelease}, Price: consent.Money{Amount: 100, Currency: "EUR"},
		Per: consent.PerRun, Validity: 24 * time.Hour,
	})
	if err != nil || st.State != vault.Approved {
		t.Fatalf("a request the rule covers: %+v, %v", st, err)
	}
	if code, body := fetchPage(t, c, w.ui.URL()+"/requests/"+st.ID); code != http.StatusOK || !strings.Contains(body, "by your rule “stats-ok”") {
		t.Fatalf("the request page does not say which rule approved it: %d\n%s", code, body)
	}
	if code, body := fetchPage(t, c, w.ui.URL()+"/activity"); code != http.StatusOK || !strings.Contains(body, "Your rule “stats-ok” approved a request") || !strings.Contains(body, "You changed your standing rules") {
		t.Fatalf("the activity does not show the rule's decision: %d\n%s", code, body)
	}
}

func TestRevokeNeedsTheTokenAndHappensOnce(t *testing.T) {
	w := newWorld(t)
	r, err := w.vault.Approve(w.ctx, w.ask())
	if err != nil {
		t.Fatal(err)
	}
	c, csrf := w.httpLogin()
	target := w.ui.URL() + "/consents/" + r.ConsentID + "/revoke"
	if resp := postForm(t, c, target, url.Values{"csrf": {"guess"}}, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("revoke with a wrong token: %s", resp.Status)
	}
	if cs, err := w.vault.Consents(w.ctx); err != nil || cs[0].RevokedAt != nil {
		t.Fatalf("a refused POST revoked the consent: %+v, %v", cs, err)
	}
	if code, _ := fetchPage(t, c, w.ui.URL()+"/consents/no-such-consent/revoke"); code != http.StatusNotFound {
		t.Fatalf("confirming an unknown consent: %d", code)
	}
	if resp := postForm(t, c, target, url.Values{"csrf": {csrf}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %s", resp.Status)
	}
	if resp := postForm(t, c, target, url.Values{"csrf": {csrf}}, nil); resp.StatusCode != http.StatusConflict {
		t.Fatalf("revoking twice: %s, want 409", resp.Status)
	}
	if code, body := fetchPage(t, c, target); code != http.StatusConflict || !strings.Contains(body, "already revoked") {
		t.Fatalf("the confirmation page of a revoked consent: %d\n%s", code, body)
	}
	es, err := w.vault.LogEntries(w.ctx, vault.LogFilter{Type: ledger.ConsentRevoked})
	if err != nil || len(es) != 1 {
		t.Fatalf("revocations logged: %v, %v", es, err)
	}
}
