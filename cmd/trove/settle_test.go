package main

import (
	"context"
	"encoding/csv"
	"regexp"
	"strings"
	"testing"

	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/ledger"
	"github.com/trove-project/trove/requester"
)

// A training round's claim through the command line: the requester asks
// with the share rule, the owner reads it (consent show) and approves,
// the run's claim is provisional, a plain acknowledgement is refused, and
// trove claims settle settles it with the round's Contribution
// credential; the owner's list, show and export say so.
func TestClaimsSettleCLI(t *testing.T) {
	cfg := testConfig(t)
	mustRun(t, cfg, "init")
	mustRun(t, cfg, "data", "import", "health", writeFile(t, "h.csv", "age,weight\n34,70.5\n51,82\n29,61\n"))
	v, srv := serveVault(t, cfg)
	mustRun(t, cfg, "requester", "init")

	if _, errOut, code := run(t, cfg, "request", "consent", "--vault", srv.URL(), "--dataset", "health", "--algorithm", "builtin:stats@1",
		"--purpose", "training", "--runs", "2", "--price", "40 EUR", "--share", "contribution"); code == 0 || !strings.Contains(errOut, "price.share") {
		t.Fatalf("the share rule per run: exit %d, %q", code, errOut)
	}
	out := mustRun(t, cfg, "request", "consent", "--vault", srv.URL(), "--dataset", "health", "--algorithm", "builtin:stats@1",
		"--purpose", "training", "--purpose-code", "model-training", "--runs", "2", "--price", "40 EUR", "--per", "round", "--share", "contribution")
	reqID := regexp.MustCompile(`request (req_[0-9a-f]+)`).FindStringSubmatch(out)
	if reqID == nil {
		t.Fatalf("request consent printed %q", out)
	}
	if out := mustRun(t, cfg, "consent", "show", reqID[1]); !strings.Contains(out, "Share rule") || !strings.Contains(out, "flagged as anomalous earns nothing") {
		t.Fatalf("consent show does not state the share rule: %q", out)
	}
	mustRun(t, cfg, "consent", "approve", reqID[1])
	out = mustRun(t, cfg, "request", "status", reqID[1])
	consentID := regexp.MustCompile(`--consent (urn:uuid:[0-9a-f-]+)`).FindStringSubmatch(out)
	if consentID == nil {
		t.Fatalf("status after approval: %q", out)
	}
	mustRun(t, cfg, "request", "run", "--vault", srv.URL(), "--consent", consentID[1], "--out", t.TempDir())
	out = mustRun(t, cfg, "claims", "list")
	id := regexp.MustCompile(`claim_[0-9a-f]{32}`).FindString(out)
	if id == "" || !regexp.MustCompile(id+`\s+provisional\s+0\.40 EUR`).MatchString(out) || !strings.Contains(out, "Provisional:") {
		t.Fatalf("claims list: %q", out)
	}
	if _, errOut, code := run(t, cfg, "claims", "ack", id, "--vault", srv.URL()); code != exitConflict || !strings.Contains(errOut, "settle") {
		t.Fatalf("acknowledging a share claim: exit %d, %q", code, errOut)
	}

	claim, err := v.Claim(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	r, err := requester.Open(cfg.RequesterHome, []byte(cfg.Passphrase), requester.Options{})
	if err != nil {
		t.Fatal(err)
	}
	issue := func(receipt string) string {
		t.Helper()
		tok, err := r.IssueContribution(consent.Contribution{Subject: v.DID(), Training: "t", Round: 1, Share: 0.375,
			Pool: consent.Money{Amount: 160, Currency: "EUR"}, Payout: consent.Money{Amount: 60, Currency: "EUR"}, ReceiptID: receipt})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	for _, bad := range []struct{ name, content string }{
		{"another receipt's", issue("rcpt_other") + "\n"},
		{"not a token", "hello"},
		{"two tokens", issue(claim.ReceiptID) + "\n" + issue(claim.ReceiptID)},
	} {
		if _, errOut, code := run(t, cfg, "claims", "settle", id, "--vault", srv.URL(), "--contribution", writeFile(t, "c.jwt", bad.content)); code == 0 {
			t.Fatalf("settling with %s credential passed: %q", bad.name, errOut)
		}
	}
	if _, _, code := run(t, cfg, "claims", "settle", id, "--vault", srv.URL()); code == 0 {
		t.Fatal("claims settle without --contribution passed")
	}
	out = mustRun(t, cfg, "claims", "settle", id, "--vault", srv.URL(), "--contribution", writeFile(t, "c.jwt", issue(claim.ReceiptID)+"\n"))
	if !strings.Contains(out, "settled at 0.60 EUR") {
		t.Fatalf("claims settle: %q", out)
	}
	out = mustRun(t, cfg, "claims", "list")
	if !regexp.MustCompile(id+`\s+settled\s+0\.60 EUR`).MatchString(out) || !regexp.MustCompile(`EUR(\s+0\.00 EUR){4}\s+0\.60 EUR`).MatchString(out) {
		t.Fatalf("claims list after settling (settled 0.60, nothing else): %q", out)
	}
	if out := mustRun(t, cfg, "claims", "show", id); !strings.Contains(out, "settled    0.60 EUR") || !strings.Contains(out, "share rule contribution") {
		t.Fatalf("claims show: %q", out)
	}
	recs, err := csv.NewReader(strings.NewReader(mustRun(t, cfg, "claims", "export", "--csv"))).ReadAll()
	if err != nil || len(recs) != 2 || recs[0][13] != "share" || recs[0][14] != "settled_minor" {
		t.Fatalf("claims export: %v, %v", recs, err)
	}
	if rec := recs[1]; rec[1] != ledger.ClaimStateSettled || rec[2] != "40" || rec[13] != "contribution" || rec[14] != "60" {
		t.Fatalf("CSV row %v", rec)
	}
	if out := mustRun(t, cfg, "log", "verify"); !strings.Contains(out, "verifies") {
		t.Fatalf("log verify: %q", out)
	}
}
