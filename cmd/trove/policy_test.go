package main

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/trove-project/trove/api"
)

const testPolicy = `version: 1
rules:
  - id: no-marketing
    decision: deny
    purpose_codes: [marketing]
  - id: stats-for-research
    decision: approve
    algorithms: ["builtin:stats@1"]
    purpose_codes: [research]
    max_runs: 10
    min_price: {amount: 50, currency: EUR}
`

// Standing rules decide requests as they arrive; a revoked consent stops
// working.
func TestPolicyAndRevokeCommands(t *testing.T) {
	cfg := testConfig(t)
	mustRun(t, cfg, "init")
	mustRun(t, cfg, "data", "import", "health", writeFile(t, "h.csv", "age,weight\n34,70.5\n51,82\n29,61\n"))
	if out := mustRun(t, cfg, "policy", "show"); !strings.Contains(out, "(0 rules)") || !strings.Contains(out, "the owner decides") {
		t.Fatalf("policy show before set: %q", out)
	}
	if _, errOut, code := run(t, cfg, "policy", "set", writeFile(t, "bad.yaml", "version: 1\nrules: [{id: a, decision: perhaps}]\n")); code != exitInvalid || !strings.Contains(errOut, "decision") {
		t.Fatalf("bad policy: exit %d, %q", code, errOut)
	}
	out := mustRun(t, cfg, "policy", "set", writeFile(t, "rules.yaml", testPolicy))
	hash := regexp.MustCompile(`sha256:[0-9a-f]{64}`).FindString(out)
	if hash == "" || !strings.Contains(out, "Approved at once (rule stats-for-research)") {
		t.Fatalf("policy set: %q", out)
	}

	_, srv := serveVault(t, cfg)
	client, err := api.NewClient(srv.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := client.Catalog(context.Background())
	if err != nil || cat.Policy.Hash != hash || len(cat.Policy.Summary) != 3 {
		t.Fatalf("catalog policy %+v, %v", cat.Policy, err)
	}

	mustRun(t, cfg, "requester", "init")
	ask := func(args ...string) string {
		t.Helper()
		out := mustRun(t, cfg, append([]string{"request", "consent", "--vault", srv.URL(), "--dataset", "health",
			"--algorithm", "builtin:stats@1", "--purpose", "a study"}, args...)...)
		id := regexp.MustCompile(`request (req_[0-9a-f]+)`).FindStringSubmatch(out)
		if id == nil {
			t.Fatalf("request consent printed %q", out)
		}
		return id[1]
	}
	denied := ask("--purpose-code", "marketing")
	if out := mustRun(t, cfg, "request", "status", denied); !strings.Contains(out, "denied") {
		t.Fatalf("marketing request: %q", out)
	}
	pending := ask("--purpose-code", "research", "--runs", "20", "--price", "60 EUR")
	if out := mustRun(t, cfg, "policy", "test", pending); !strings.Contains(out, "ask (no rule matches") {
		t.Fatalf("policy test: %q", out)
	}
	approved := ask("--purpose-code", "research", "--runs", "2", "--price", "60 EUR", "--columns", "weight")
	if out := mustRun(t, cfg, "policy", "test", approved); !strings.Contains(out, "approve (rule stats-for-research; rule set "+hash) {
		t.Fatalf("policy test: %q", out)
	}
	out = mustRun(t, cfg, "request", "status", approved)
	consentID := regexp.MustCompile(`--consent (urn:uuid:[0-9a-f-]+)`).FindStringSubmatch(out)
	if consentID == nil {
		t.Fatalf("status of a rule-approved request: %q", out)
	}
	if out := mustRun(t, cfg, "consent", "show", approved); !strings.Contains(out, "rule:stats-for-research") || !strings.Contains(out, "weight") {
		t.Fatalf("consent show: %q", out)
	}
	if out := mustRun(t, cfg, "consent", "revoke", consentID[1]); !strings.Contains(out, "Revoked consent") {
		t.Fatalf("revoke: %q", out)
	}
	if out := mustRun(t, cfg, "request", "status", approved); !strings.Contains(out, "revoked by the owner") {
		t.Fatalf("the requester's status after revocation: %q", out)
	}
	if out := mustRun(t, cfg, "consent", "list", "--all"); !strings.Contains(out, "revoked") {
		t.Fatalf("consent list: %q", out)
	}
	if _, errOut, code := run(t, cfg, "request", "run", "--vault", srv.URL(), "--consent", consentID[1], "--out", t.TempDir()); code != exitForbidden {
		t.Fatalf("run under a revoked consent: exit %d, %q", code, errOut)
	}
}

// The owner counters a request; the requester sees the offer and accepts.
func TestCounterOfferCommands(t *testing.T) {
	cfg := testConfig(t)
	mustRun(t, cfg, "init")
	mustRun(t, cfg, "data", "import", "health", writeFile(t, "h.csv", "age,weight\n34,70.5\n51,82\n29,61\n"))
	_, srv := serveVault(t, cfg)
	mustRun(t, cfg, "requester", "init")
	out := mustRun(t, cfg, "request", "consent", "--vault", srv.URL(), "--dataset", "health", "--algorithm", "builtin:stats@1",
		"--purpose", "a study", "--purpose-code", "research", "--runs", "5", "--price", "100 EUR")
	id := regexp.MustCompile(`request (req_[0-9a-f]+)`).FindStringSubmatch(out)[1]
	if _, errOut, code := run(t, cfg, "consent", "counter", id, "--runs", "9"); code != exitInvalid || !strings.Contains(errOut, "more runs") {
		t.Fatalf("a wider counter: exit %d %q", code, errOut)
	}
	mustRun(t, cfg, "consent", "counter", id, "--runs", "2", "--columns", "age", "--price", "150 EUR")
	out = mustRun(t, cfg, "request", "status", id)
	if !strings.Contains(out, "countered") || !strings.Contains(out, "2 runs") || !strings.Contains(out, "columns age") || !strings.Contains(out, "1.50 EUR per run") {
		t.Fatalf("status of a countered request: %q", out)
	}
	out = mustRun(t, cfg, "request", "accept", id)
	if !strings.Contains(out, "approved") || !strings.Contains(out, "--consent urn:uuid:") {
		t.Fatalf("accept: %q", out)
	}
}
