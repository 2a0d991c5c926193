package consent

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

const examplePolicy = `# The owner's standing rules.
version: 1
rules:
  - id: no-marketing
    decision: deny
    purpose_codes: [marketing]
  - id: stats-for-research
    decision: approve
    algorithms: ["builtin:stats@1"]
    purpose_codes: [research]
    outputs: [dp]
    max_epsilon: 0.5
    max_runs: 10
    min_price: {amount: 50, currency: EUR}
    per: [run]
`

func policyRequest(k keys) *Request {
	return &Request{
		ID: "r1", Requester: k.requester.DID(), Vault: k.owner.DID(), Dataset: "breast_cancer",
		Algorithm: "builtin:stats@1", Purpose: "Study.", PurposeCode: PurposeResearch, MaxRuns: 10,
		Output: OutputPolicy{Policy: OutputDP, Epsilon: 0.5, Delta: 1e-6},
		Price:  Money{Amount: 50, Currency: "EUR"}, Per: PerRun,
		CreatedAt: now, ExpiresAt: now.Add(30 * 24 * time.Hour),
	}
}

func TestPolicyDecides(t *testing.T) {
	k := testKeys(t)
	p, err := ParsePolicy([]byte(examplePolicy))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		bend     func(r *Request)
		decision string
		rule     string
	}{
		{"within every limit", func(*Request) {}, DecideApprove, "stats-for-research"},
		{"marketing", func(r *Request) { r.PurposeCode = PurposeMarketing }, DecideDeny, "no-marketing"},
		{"too many runs", func(r *Request) { r.MaxRuns = 11 }, DecideAsk, ""},
		{"epsilon too large", func(r *Request) { r.Output.Epsilon = 0.6 }, DecideAsk, ""},
		{"released output", func(r *Request) { r.Output = OutputPolicy{Policy: OutputRelease} }, DecideAsk, ""},
		{"too cheap", func(r *Request) { r.Price.Amount = 49 }, DecideAsk, ""},
		{"another currency", func(r *Request) { r.Price.Currency = "USD" }, DecideAsk, ""},
		{"per 1000 rows", func(r *Request) { r.Per = Per1000Rows }, DecideAsk, ""},
		{"a wasm module", func(r *Request) { r.Algorithm = wasmDigest }, DecideAsk, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := policyRequest(k)
			tc.bend(r)
			d := p.Decide(r, []string{"radius"})
			if d.Decision != tc.decision || d.RuleID != tc.rule || d.RuleSet != p.Hash() {
				t.Fatalf("got %+v; want %s by %q", d, tc.decision, tc.rule)
			}
		})
	}
}

// The same rules hash the same from YAML and JSON; any change of a rule
// changes the hash.
func TestPolicyHashIsCanonical(t *testing.T) {
	y, err := ParsePolicy([]byte(examplePolicy))
	if err != nil {
		t.Fatal(err)
	}
	j, err := ParsePolicy([]byte(`{"rules":[{"decision":"deny","id":"no-marketing","purpose_codes":["marketing"]},
		{"id":"stats-for-research","decision":"approve","algorithms":["builtin:stats@1"],"purpose_codes":["research"],
		"outputs":["dp"],"max_epsilon":0.5,"max_runs":10,"min_price":{"currency":"EUR","amount":50},"per":["run"]}],"version":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if y.Hash() != j.Hash() || !strings.HasPrefix(y.Hash(), "sha256:") {
		t.Fatalf("%s != %s", y.Hash(), j.Hash())
	}
	j.Rules[1].MaxRuns = 9
	if y.Hash() == j.Hash() {
		t.Fatal("a changed rule keeps the hash")
	}
	if (&Policy{Version: 1}).Hash() != (&Policy{Version: 1, Rules: []Rule{}}).Hash() {
		t.Fatal("no rules hash differently")
	}
	sum := y.Summary()
	if len(sum) != 3 || !strings.Contains(sum[1], "Approved at once (rule stats-for-research)") ||
		!strings.Contains(sum[1], "for at most 10 runs") || sum[2] != "Any other request: the owner decides." {
		t.Fatalf("summary %q", sum)
	}
}

func TestParsePolicyRefuses(t *testing.T) {
	tests := map[string]string{
		"unknown field":         "version: 1\nrules:\n  - id: a\n    decision: approve\n    purpose: research\n",
		"duplicate YAML key":    "version: 1\nversion: 1\nrules: []\n",
		"duplicate JSON key":    `{"version":1,"rules":[],"rules":[]}`,
		"two YAML documents":    "version: 1\nrules: []\n---\nversion: 1\n",
		"two JSON documents":    `{"version":1,"rules":[]} {}`,
		"wrong version":         "version: 2\nrules: []\n",
		"no version":            "rules: []\n",
		"unknown decision":      "version: 1\nrules: [{id: a, decision: maybe}]\n",
		"bad id":                "version: 1\nrules: [{id: 'a b', decision: deny}]\n",
		"same id twice":         "version: 1\nrules: [{id: a, decision: deny}, {id: a, decision: ask}]\n",
		"unknown purpose":       "version: 1\nrules: [{id: a, decision: deny, purpose_codes: [fun]}]\n",
		"requester not a DID":   "version: 1\nrules: [{id: a, decision: deny, requesters: [bob]}]\n",
		"negative price":        "version: 1\nrules: [{id: a, decision: approve, min_price: {amount: -1, currency: EUR}}]\n",
		"bad validity":          "version: 1\nrules: [{id: a, decision: approve, max_validity: forever}]\n",
		"not a mapping":         "- a\n- b\n",
		"non-string key":        "version: 1\nrules: []\n1: x\n",
		"too deep":              "version: 1\nrules: [[[[[[[[[[[[1]]]]]]]]]]]]\n",
		"over the size limit":   "version: 1\nrules: []\n#" + strings.Repeat("x", MaxPolicySize),
		"alias bomb":            "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n",
		"JSON with a trailing ": `{"version":1,"rules":[]`,
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			if p, err := ParsePolicy([]byte(in)); err == nil {
				t.Fatalf("accepted %+v", p)
			}
		})
	}
}

func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte(examplePolicy))
	f.Add([]byte(`{"version":1,"rules":[{"id":"a","decision":"deny"}]}`))
	f.Add([]byte("a: &a [*a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePolicy(data)
		if err != nil {
			return
		}
		if p.Check() != nil {
			t.Fatal("accepted a policy that does not check")
		}
		// What was accepted round-trips to the same rules.
		again, err := ParsePolicy(mustJSON(t, p))
		if err != nil || again.Hash() != p.Hash() {
			t.Fatalf("round trip: %v", err)
		}
	})
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
