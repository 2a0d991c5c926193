package ui_test

import (
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/trove-project/trove/compute"
	"github.com/trove-project/trove/internal/sampledata"
	"github.com/trove-project/trove/vault"
)

func TestHeldResultWithheldByTheOwner(t *testing.T) {
	w := newWorld(t)
	w.reviewEveryResult()
	job := w.runCredential(w.consentTo(w.module, 2), w.module, "")
	if job.State != vault.JobAwaitingReview || job.Result != nil || job.Receipt != nil {
		t.Fatalf("the requester sees %+v, want a held job with nothing in it", job)
	}
	c, csrf := w.httpLogin()
	base := w.ui.URL() + "/results/" + job.ID

	if code, body := fetchPage(t, c, w.ui.URL()+"/"); code != http.StatusOK || !strings.Contains(body, `id="held-stat"`) {
		t.Fatalf("the overview does not count the held result: %d\n%s", code, body)
	}
	if code, body := fetchPage(t, c, w.ui.URL()+"/results"); code != http.StatusOK || !strings.Contains(body, `href="/results/`+job.ID+`"`) {
		t.Fatalf("the results page does not list the held job: %d\n%s", code, body)
	}
	code, body := fetchPage(t, c, base)
	if code != http.StatusOK || !strings.Contains(body, `<pre class="result" id="result"`) || !strings.Contains(body, "mean_radius") {
		t.Fatalf("the review page does not show the result: %d\n%s", code, body)
	}
	if code, body := fetchPage(t, c, base+"/withhold"); code != http.StatusOK || !strings.Contains(body, "Withhold it") {
		t.Fatalf("the confirmation page: %d\n%s", code, body)
	}
	if code, _ := fetchPage(t, c, base+"/publish"); code != http.StatusNotFound {
		t.Fatalf("an unknown decision: %d, want 404", code)
	}

	// Without the token nothing happens.
	if resp := postForm(t, c, base+"/withhold", url.Values{}, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("withhold without the token: %s", resp.Status)
	}
	if resp := postForm(t, c, base+"/withhold", url.Values{"csrf": {csrf}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("withhold: %s", resp.Status)
	}
	got, err := w.req.Signed(w.client).Job(w.ctx, job.ID)
	if err != nil || got.State != vault.JobWithheld || got.Result != nil || got.Receipt != nil {
		t.Fatalf("after withholding the requester sees %+v, %v", got, err)
	}
	// Decided once: neither page nor action works again.
	if code, body := fetchPage(t, c, base); code != http.StatusConflict || !strings.Contains(body, "no longer waiting") {
		t.Fatalf("the review page of a withheld result: %d\n%s", code, body)
	}
	if resp := postForm(t, c, base+"/release", url.Values{"csrf": {csrf}}, nil); resp.StatusCode != http.StatusConflict {
		t.Fatalf("releasing a withheld result: %s, want 409", resp.Status)
	}
	if code, body := fetchPage(t, c, w.ui.URL()+"/runs"); code != http.StatusOK || !strings.Contains(body, "withheld by you") {
		t.Fatalf("the runs page after withholding: %d\n%s", code, body)
	}
}

func TestFailedRunShowsItsStderrToTheOwner(t *testing.T) {
	module := hostile(t)
	w := newWorld(t)
	job := w.runCredential(w.consentTo(module, 1), module, `{"mode":"exit"}`)
	if job.State != vault.JobFailed {
		t.Fatalf("the hostile module's job: %+v", job)
	}
	c, _ := w.httpLogin()
	code, body := fetchPage(t, c, w.ui.URL()+"/runs")
	if code != http.StatusOK {
		t.Fatalf("runs page: %d", code)
	}
	for _, want := range []string{`id="job-` + job.ID + `"`, "the program stopped with an error", `<details class="stderr">`, "giving up"} {
		if !strings.Contains(body, want) {
			t.Fatalf("the runs page lacks %q:\n%s", want, body)
		}
	}
}

func TestPrivacySettingsForm(t *testing.T) {
	w := newWorld(t)
	c, csrf := w.httpLogin()
	target := w.ui.URL() + "/datasets/" + sampledata.BreastCancerName + "/privacy"
	if code, body := fetchPage(t, c, target); code != http.StatusOK || !strings.Contains(body, `href="/glossary#epsilon"`) {
		t.Fatalf("privacy page: %d\n%s", code, body)
	}
	for _, tc := range []struct {
		name string
		form url.Values
		want string
	}{
		{"no policy", url.Values{"budget_epsilon": {"1"}}, "Choose what may leave"},
		{"unknown policy", url.Values{"policy": {"leak"}}, "Choose what may leave"},
		{"dp without ε", url.Values{"policy": {"dp"}, "budget_epsilon": {"1"}}, "ε per run"},
		{"dp with ε 0", url.Values{"policy": {"dp"}, "job_epsilon": {"0"}}, "more than 0"},
		{"ε per run too large", url.Values{"policy": {"dp"}, "job_epsilon": {"11"}}, "from 0 to 10"},
		{"not a number", url.Values{"policy": {"review"}, "budget_epsilon": {"lots"}}, "lifetime ε budget"},
		{"NaN", url.Values{"policy": {"review"}, "budget_epsilon": {"NaN"}}, "lifetime ε budget"},
		{"infinite", url.Values{"policy": {"review"}, "budget_epsilon": {"1e400"}}, "lifetime ε budget"},
		{"negative", url.Values{"policy": {"review"}, "budget_delta": {"-0.1"}}, "lifetime δ budget"},
		{"budget too large", url.Values{"policy": {"review"}, "budget_epsilon": {"101"}}, "from 0 to 100"},
		{"too long", url.Values{"policy": {"review"}, "budget_epsilon": {strings.Repeat("1", 40)}}, "too long"},
	} {
		tc.form.Set("csrf", csrf)
		resp := postFormBody(t, c, target, tc.form)
		if resp.code != http.StatusBadRequest || !strings.Contains(resp.body, tc.want) || !strings.Contains(resp.body, `id="problem"`) {
			t.Errorf("%s: %d, want 400 saying %q\n%s", tc.name, resp.code, tc.want, resp.body)
		}
	}
	if p, err := w.vault.Privacy(w.ctx, sampledata.BreastCancerName); err != nil || p.Minimum.Kind != "release" || p.BudgetEpsilon != 0 {
		t.Fatalf("refused forms changed the settings: %+v, %v", p, err)
	}
	ok := url.Values{"csrf": {csrf}, "policy": {"dp"}, "job_epsilon": {"0.5"}, "job_delta": {""}, "budget_epsilon": {"10"}, "budget_delta": {"1e-6"}}
	if resp := postForm(t, c, target, ok, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("good settings: %s", resp.Status)
	}
	p, err := w.vault.Privacy(w.ctx, sampledata.BreastCancerName)
	if err != nil || p.Minimum.Kind != "dp" || p.Minimum.Epsilon != 0.5 || p.BudgetEpsilon != 10 || p.BudgetDelta != 1e-6 {
		t.Fatalf("settings after saving: %+v, %v", p, err)
	}
	for _, page := range []string{"/", "/datasets"} {
		if code, body := fetchPage(t, c, w.ui.URL()+page); code != http.StatusOK || !strings.Contains(body, "ε 10 left") {
			t.Fatalf("%s does not show the budget left: %d\n%s", page, code, body)
		}
	}
	// A run with privacy noise spends some of it; the pages show what is
	// left, rounded down.
	if job := w.runCredential(w.consentToAlgorithm(compute.StatsID, 1), nil, ""); job.State != vault.JobSucceeded {
		t.Fatalf("the DP run: %+v", job)
	}
	if p, err = w.vault.Privacy(w.ctx, sampledata.BreastCancerName); err != nil || !(p.LeftEpsilon > 0 && p.LeftEpsilon < 10) {
		t.Fatalf("budget after a DP run: %+v, %v", p, err)
	}
	left := "ε " + strconv.FormatFloat(math.Floor(p.LeftEpsilon*100)/100, 'f', -1, 64) + " left"
	for _, page := range []string{"/", "/datasets", "/datasets/" + sampledata.BreastCancerName + "/privacy"} {
		if code, body := fetchPage(t, c, w.ui.URL()+page); code != http.StatusOK || !strings.Contains(body, left) {
			t.Fatalf("%s does not show %q: %d\n%s", page, left, code, body)
		}
	}
}

type response struct {
	code int
	body string
}

// postFormBody posts a form and returns the status and page.
func postFormBody(t *testing.T, c *http.Client, target string, form url.Values) response {
	t.Helper()
	resp, err := c.PostForm(target, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, string(b)}
}
