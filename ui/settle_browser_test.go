package ui_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/internal/sampledata"
	"github.com/trove-project/trove/ledger"
	"github.com/trove-project/trove/requester"
)

// A training request under the contribution share rule: the review page
// says the rule in plain words before the owner approves; the round's
// claim shows as provisional in the earnings; once the requester settles
// it, the earnings show the settled amount and the activity the
// settlement.
func TestBrowserShareRuleAndSettlement(t *testing.T) {
	w := newWorld(t)
	shots := screenshotDir(t)
	st, err := w.req.RequestConsent(w.ctx, w.client, requester.Ask{
		Dataset: sampledata.BreastCancerName, Algorithm: "builtin:stats@1",
		Purpose: "Federated training of a tumour classifier", PurposeCode: consent.PurposeModelTraining, MaxRuns: 3,
		Output: consent.OutputPolicy{Policy: consent.OutputRelease},
		Price:  consent.Money{Amount: 40, Currency: "EUR"}, Per: consent.PerRound, Share: consent.ShareContribution, Validity: 24 * time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := tab(t)
	do(t, ctx, chromedp.Navigate(w.ui.LoginLink()), chromedp.WaitVisible(chromedp.CSS("main h1")),
		chromedp.Navigate(w.ui.URL()+"/requests/"+st.ID), chromedp.WaitVisible(chromedp.ID("share-rule")))
	if got := text(t, ctx, "#share-rule"); !strings.Contains(got, "in proportion to how much each update helped") ||
		!strings.Contains(got, "flagged as anomalous earns nothing") || !strings.Contains(got, "a counter-offer keeps it") {
		t.Fatalf("the review page states the rule as:\n%s", got)
	}
	if got := text(t, ctx, "main"); !strings.Contains(got, "0.40 EUR per training round") {
		t.Fatalf("the review page's price:\n%s", got)
	}
	screenshot(t, ctx, shots, "20-request-share-rule")
	do(t, ctx, chromedp.Click(chromedp.ID("approve")), chromedp.WaitVisible(chromedp.CSS(".notice")))

	st, _, err = w.req.RequestStatus(w.ctx, w.client, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	job := w.runCredential(st.Credential, nil, "")
	if job.Claim == nil || job.Claim.Share != ledger.ShareContribution {
		t.Fatalf("the round's claim: %+v", job.Claim)
	}
	do(t, ctx, chromedp.Navigate(w.ui.URL()+"/consents"), chromedp.WaitVisible(chromedp.CSS(".share-note")))
	if got := text(t, ctx, ".share-note"); got != "shared by contribution" {
		t.Fatalf("the consents page says %q", got)
	}
	row := "#claim-" + job.Claim.ID
	do(t, ctx, chromedp.Navigate(w.ui.URL()+"/earnings"), chromedp.WaitVisible(chromedp.CSS(row)))
	if got := text(t, ctx, row); !strings.Contains(got, "provisional") || !strings.Contains(got, "0.40 EUR") {
		t.Fatalf("the provisional claim shows as %q", got)
	}

	tok, err := w.req.IssueContribution(consent.Contribution{Subject: w.vault.DID(), Training: "t", Round: 1, Share: 0.65,
		Pool: consent.Money{Amount: 120, Currency: "EUR"}, Payout: consent.Money{Amount: 78, Currency: "EUR"}, ReceiptID: job.Claim.ReceiptID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.req.SettleClaim(w.ctx, w.client, job.Claim.ID, tok); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, chromedp.Navigate(w.ui.URL()+"/earnings"), chromedp.WaitVisible(chromedp.CSS(row)))
	if got := text(t, ctx, row); !strings.Contains(got, "settled") || !strings.Contains(got, "0.78 EUR") || !strings.Contains(got, "provisional 0.40 EUR") {
		t.Fatalf("the settled claim shows as %q", got)
	}
	if got := text(t, ctx, ".stats"); !strings.Contains(got, "0.78 EUR") || !strings.Contains(got, "settled") {
		t.Fatalf("the earnings totals:\n%s", got)
	}
	screenshot(t, ctx, shots, "21-earnings-settled")
	do(t, ctx, chromedp.Navigate(w.ui.URL()+"/activity?type=claim.settled"), chromedp.WaitVisible(chromedp.CSS(".timeline")))
	if got := text(t, ctx, ".timeline"); !strings.Contains(got, "settled a training round's payment at your share: 0.78 EUR") {
		t.Fatalf("the activity shows:\n%s", got)
	}
	do(t, ctx, chromedp.Navigate(w.ui.URL()+"/activity"), chromedp.WaitVisible(chromedp.CSS(".timeline")))
	if got := text(t, ctx, ".timeline"); !strings.Contains(got, "0.40 EUR for now, until it is settled") {
		t.Fatalf("the activity does not show the provisional claim:\n%s", got)
	}
	screenshot(t, ctx, shots, "22-activity-settled")
}
