package ui

import (
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/vault"
)

// FuzzCounterForm: whatever the form says, a counter-offer the UI accepts
// never asks for more than the request did.
func FuzzCounterForm(f *testing.F) {
	end := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	x := &vault.ConsentRequest{Request: consent.Request{MaxRuns: 3, ExpiresAt: end,
		Output: consent.OutputPolicy{Policy: consent.OutputDP, Epsilon: 1}, Price: consent.Money{Amount: 250, Currency: "EUR"}}}
	cols := []string{"a", "b", "c"}
	f.Add("runs=2&until=2026-12-01&price=2.50&output=keep&columns=a&columns=b&columns=c")
	f.Add("runs=3&until=2026-11-30&price=3&output=dp&epsilon=0.5&columns=a")
	f.Add("runs=3&until=2026-12-02&price=1e3&output=review&columns=z")
	f.Add("runs=-1&until=&price=-2.50&output=dp&epsilon=NaN")
	f.Fuzz(func(t *testing.T, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		_, n, err := parseNarrowing(form, x, cols)
		if err != nil {
			return
		}
		if n.MaxRuns < 0 || n.MaxRuns > x.MaxRuns || n.ExpiresAt.After(end) || (n.Price != 0 && n.Price < x.Price.Amount) {
			t.Fatalf("%q widened the terms: %+v", body, n)
		}
		for _, c := range n.Columns {
			if !slices.Contains(cols, c) {
				t.Fatalf("%q offers column %q not asked for", body, c)
			}
		}
		if o := n.Output; o != nil && o.Policy == consent.OutputDP && !(o.Epsilon > 0 && o.Epsilon <= x.Output.Epsilon) {
			t.Fatalf("%q offers ε %g", body, o.Epsilon)
		}
	})
}

func FuzzRuleTestForm(f *testing.F) {
	cols := map[string][]string{"d": {"a", "b"}}
	now := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	f.Add("dataset=d&runs=1&days=30&output=release&price=1.00&currency=EUR&per=run")
	f.Add("dataset=d&runs=1&days=30&output=dp&epsilon=0x1p-3&price=0&currency=eur&per=round")
	f.Add("dataset=x&runs=99999999999999999999&days=-1&output=dp&price=1.999")
	f.Add("dataset=d&runs=1&days=30&output=release&price=1&currency=EUR&per=round&share=contribution")
	f.Add("dataset=d&runs=1&days=30&output=release&price=1&currency=EUR&per=run&share=contribution")
	f.Fuzz(func(t *testing.T, body string) {
		q, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		_, r, dsCols, err := parseHypothetical(q, cols, now)
		if err != nil {
			return
		}
		if r.MaxRuns < 1 || !r.ExpiresAt.After(now) || r.Price.Amount < 0 || len(dsCols) != 2 || (r.Share != "" && r.Per != consent.PerRound) {
			t.Fatalf("%q gave %+v", body, r)
		}
	})
}
