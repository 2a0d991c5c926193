package consent

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// The share rule is a term like the price: signed in the request, read
// back by the vault, carried into the credential and a counter-offer, and
// refused where it makes no sense.
func TestShareRuleRoundTrips(t *testing.T) {
	k := testKeys(t)
	r := testRequest(k)
	r.Per, r.Share = PerRound, ShareContribution
	tok, err := SignRequest(k.requester, r, now)
	if err != nil {
		t.Fatal(err)
	}
	_, payload, _ := segments(t, tok)
	if !strings.Contains(payload, `"share":"contribution"`) {
		t.Fatalf("the signed request does not state the rule: %s", payload)
	}
	got, err := VerifyRequest(tok, k.owner.DID(), now)
	if err != nil || got.Share != ShareContribution || got.Terms().Share != ShareContribution {
		t.Fatalf("read back %+v, %v", got, err)
	}

	terms := testTerms(k.owner.DID())
	terms.Per, terms.Share = PerRound, ShareContribution
	cred, err := Issue(k.owner, k.requester.DID(), terms, now.Add(-time.Hour), now.Add(time.Hour), consentID, testStatus)
	if err != nil {
		t.Fatal(err)
	}
	c, err := VerifyCredential(cred, now)
	if err != nil || c.Terms.Share != ShareContribution {
		t.Fatalf("credential terms %+v, %v", c, err)
	}
	// Without the rule nothing is written: credentials made before read
	// the same.
	plain, err := Issue(k.owner, k.requester.DID(), testTerms(k.owner.DID()), now.Add(-time.Hour), now.Add(time.Hour), consentID, testStatus)
	if err != nil {
		t.Fatal(err)
	}
	if _, p, _ := segments(t, plain); strings.Contains(p, "share") {
		t.Fatalf("a credential without the rule mentions it: %s", p)
	}

	ctr, err := SignCounter(k.owner, Counter{ID: "ctr-1", Requester: k.requester.DID(), RequestID: r.ID, RequestHash: TokenHash(tok),
		Terms: got.Terms(), ExpiresAt: now.Add(time.Hour)}, now)
	if err != nil {
		t.Fatal(err)
	}
	co, err := VerifyCounter(ctr, k.owner.DID(), k.requester.DID(), now)
	if err != nil || co.Terms.Share != ShareContribution {
		t.Fatalf("counter-offer terms %+v, %v", co, err)
	}
}

func TestShareRuleRefused(t *testing.T) {
	k := testKeys(t)
	for name, tc := range map[string]struct{ per, share string }{
		"per run":       {PerRun, ShareContribution},
		"per 1000 rows": {Per1000Rows, ShareContribution},
		"unknown rule":  {PerRound, "equal"},
		"none spelled":  {PerRound, ShareNone},
	} {
		r := testRequest(k)
		r.Per, r.Share = tc.per, tc.share
		_, err := SignRequest(k.requester, r, now)
		wantCode(t, err, ErrInvalidRequest)
		if f := err.(*Error).Field; f != "price.share" {
			t.Errorf("%s: field %q", name, f)
		}
		terms := testTerms(k.owner.DID())
		terms.Per, terms.Share = tc.per, tc.share
		_, err = Issue(k.owner, k.requester.DID(), terms, now, now.Add(time.Hour), consentID, testStatus)
		wantCode(t, err, ErrInvalidRequest)
		if f := err.(*Error).Field; f != "credentialSubject.price.share" {
			t.Errorf("%s: credential field %q", name, f)
		}
	}
	// A share that is not a string.
	hdr := `{"alg":"EdDSA","typ":"` + TypeRequest + `","kid":"` + k.requester.KeyID() + `"}`
	tok := forge(t, k.requester, hdr, map[string]any{
		"iss": k.requester.DID(), "aud": k.owner.DID(), "jti": "req-1", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		requestClaim: map[string]any{
			"dataset": "breast_cancer", "algorithm": "builtin:stats@1", "purpose": "research", "maxRuns": 2, "purposeCode": "research",
			"price":  map[string]any{"amount": 10, "currency": "EUR", "per": "round", "share": true},
			"output": map[string]any{"policy": "release"},
		},
	})
	_, err := VerifyRequest(tok, k.owner.DID(), now)
	wantCode(t, err, ErrInvalidRequest)
	if f := err.(*Error).Field; f != "price.share" {
		t.Errorf("field %q", f)
	}
}

// A counter-offer keeps the rule exactly: the owner may neither drop it
// nor add it.
func TestCounterKeepsShareRule(t *testing.T) {
	k := testKeys(t)
	asked := testRequest(k).Terms()
	asked.Per, asked.Share = PerRound, ShareContribution
	end := now.Add(time.Hour)
	dropped := asked
	dropped.Share = ""
	if err := CheckNarrower(asked, end, dropped, end, nil); err == nil || err.(*Error).Field != "price.share" {
		t.Fatalf("dropping the rule: %v", err)
	}
	plain := testRequest(k).Terms()
	plain.Per = PerRound
	added := plain
	added.Share = ShareContribution
	if err := CheckNarrower(plain, end, added, end, nil); err == nil || err.(*Error).Field != "price.share" {
		t.Fatalf("adding the rule: %v", err)
	}
	higher := asked
	higher.Price.Amount++
	if err := CheckNarrower(asked, end, higher, end, nil); err != nil {
		t.Fatalf("a higher price with the rule kept: %v", err)
	}
}

// Standing rules can require or exclude the rule, and say so in words.
func TestPolicyMatchesShareRule(t *testing.T) {
	k := testKeys(t)
	p, err := ParsePolicy([]byte(`version: 1
rules:
  - id: shared-training
    decision: approve
    per: [round]
    shares: [contribution]
  - id: plain-rounds
    decision: deny
    per: [round]
    shares: [none]
`))
	if err != nil {
		t.Fatal(err)
	}
	r := policyRequest(k)
	r.Per, r.Share = PerRound, ShareContribution
	if d := p.Decide(r, nil); d.RuleID != "shared-training" {
		t.Fatalf("a shared round: %+v", d)
	}
	r.Share = ""
	if d := p.Decide(r, nil); d.RuleID != "plain-rounds" {
		t.Fatalf("a plain round: %+v", d)
	}
	sum := strings.Join(p.Summary(), "\n")
	if !strings.Contains(sum, "shared by contribution") || !strings.Contains(sum, "paid its full price") {
		t.Fatalf("summary:\n%s", sum)
	}
	if _, err := ParsePolicy([]byte("version: 1\nrules:\n  - {id: x, decision: approve, shares: [equal]}\n")); err == nil || !strings.Contains(err.Error(), "shares") {
		t.Fatalf("an unknown share rule in a rule: %v", err)
	}
	// Rules without shares hash as before the field existed.
	q, err := ParsePolicy([]byte(examplePolicy))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mustMarshal(t, q)), "shares") {
		t.Fatal("a rule without shares marshals the field")
	}
}

func TestShareWords(t *testing.T) {
	if w := ShareWords(ShareContribution); !strings.Contains(w, "flagged") || !strings.Contains(w, "contribution") {
		t.Fatalf("%q", w)
	}
	if w := ShareWords(""); !strings.Contains(w, "full price") {
		t.Fatalf("%q", w)
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
