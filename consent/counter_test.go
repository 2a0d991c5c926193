package consent

import (
	"reflect"
	"testing"
	"time"
)

func testCounter(t *testing.T, k keys) (*Counter, string) {
	t.Helper()
	asked := testRequest(k)
	terms := asked.Terms()
	terms.MaxRuns = 5
	terms.Columns = []string{"radius"}
	c := Counter{
		ID: "ctr-1", Requester: k.requester.DID(), RequestID: asked.ID, RequestHash: TokenHash("request token"),
		Terms: terms, ExpiresAt: now.Add(7 * 24 * time.Hour),
	}
	tok, err := SignCounter(k.owner, c, now)
	if err != nil {
		t.Fatal(err)
	}
	got, err := VerifyCounter(tok, k.owner.DID(), k.requester.DID(), now)
	if err != nil {
		t.Fatal(err)
	}
	return got, tok
}

func TestCounterRoundTrip(t *testing.T) {
	k := testKeys(t)
	c, tok := testCounter(t, k)
	want := testRequest(k).Terms()
	want.MaxRuns, want.Columns = 5, []string{"radius"}
	if !reflect.DeepEqual(c.Terms, want) || c.Vault != k.owner.DID() || c.Raw != tok || c.RequestID != "req-7f3a" {
		t.Fatalf("got %+v", c)
	}
	if _, err := VerifyCounter(tok, k.mallory.DID(), k.requester.DID(), now); CodeOf(err) != ErrIssuerMismatch {
		t.Fatalf("counter from another vault: %v", err)
	}
	if _, err := VerifyCounter(tok, k.owner.DID(), k.mallory.DID(), now); CodeOf(err) != ErrWrongAudience {
		t.Fatalf("counter for another requester: %v", err)
	}
	// A counter-offer passes for no other token.
	if _, err := VerifyRequest(tok, k.owner.DID(), now); CodeOf(err) != ErrBadToken {
		t.Fatalf("counter as a request: %v", err)
	}
	if _, err := VerifyCredential(tok, now); CodeOf(err) != ErrBadToken {
		t.Fatalf("counter as a credential: %v", err)
	}
}

func TestReply(t *testing.T) {
	k := testKeys(t)
	c, tok := testCounter(t, k)
	reply, err := SignReply(k.requester, c, Accept, now)
	if err != nil {
		t.Fatal(err)
	}
	r, err := VerifyReply(reply, k.owner.DID(), now)
	if err != nil {
		t.Fatal(err)
	}
	if r.Requester != k.requester.DID() || r.CounterID != c.ID || r.CounterHash != TokenHash(tok) || r.Answer != Accept {
		t.Fatalf("got %+v", r)
	}
	if _, err := VerifyReply(reply, k.mallory.DID(), now); CodeOf(err) != ErrWrongAudience {
		t.Fatalf("reply to another vault: %v", err)
	}
	if _, err := VerifyReply(reply, k.owner.DID(), now.Add(time.Hour)); CodeOf(err) != ErrExpired {
		t.Fatalf("stale reply: %v", err)
	}
	if _, err := SignReply(k.requester, c, "maybe", now); CodeOf(err) != ErrInvalidRequest {
		t.Fatalf("answer maybe: %v", err)
	}
	if _, err := VerifyCounter(reply, k.owner.DID(), k.requester.DID(), now); CodeOf(err) != ErrBadToken {
		t.Fatalf("reply as a counter: %v", err)
	}
}

func TestCheckNarrower(t *testing.T) {
	k := testKeys(t)
	asked := testRequest(k).Terms()
	asked.Output = OutputPolicy{Policy: OutputDP, Epsilon: 1, Delta: 1e-5}
	end := now.Add(30 * 24 * time.Hour)
	all := []string{"radius", "texture"}
	tests := []struct {
		name  string
		bend  func(t *Terms)
		end   time.Time
		field string
	}{
		{"the same", func(*Terms) {}, end, ""},
		{"fewer runs, shorter, fewer columns, smaller ε, higher price", func(t *Terms) {
			t.MaxRuns, t.Columns, t.Output.Epsilon, t.Price.Amount = 1, []string{"texture"}, 0.1, 999
		}, end.Add(-time.Hour), ""},
		{"review instead", func(t *Terms) { t.Output = OutputPolicy{Policy: OutputReview} }, end, ""},
		{"more runs", func(t *Terms) { t.MaxRuns++ }, end, "maxRuns"},
		{"longer", func(*Terms) {}, end.Add(time.Second), "exp"},
		{"a column not asked", func(t *Terms) { t.Columns = []string{"ssn"} }, end, "columns"},
		{"larger ε", func(t *Terms) { t.Output.Epsilon = 2 }, end, "output"},
		{"larger δ", func(t *Terms) { t.Output.Delta = 1e-3 }, end, "output"},
		{"release instead of dp", func(t *Terms) { t.Output = OutputPolicy{Policy: OutputRelease} }, end, "output"},
		{"cheaper", func(t *Terms) { t.Price.Amount-- }, end, "price.amount"},
		{"another currency", func(t *Terms) { t.Price.Currency = "EUR" }, end, "price"},
		{"another unit", func(t *Terms) { t.Per = PerRun }, end, "price"},
		{"another algorithm", func(t *Terms) { t.Algorithm = "builtin:stats@1" }, end, "dataset"},
		{"another purpose", func(t *Terms) { t.PurposeCode = PurposeOther }, end, "purpose"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			offered := asked
			offered.Columns = append([]string(nil), all...)
			tc.bend(&offered)
			err := CheckNarrower(asked, end, offered, tc.end, all)
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if e, ok := err.(*Error); !ok || e.Field != tc.field {
				t.Fatalf("got %v; want a refusal of %s", err, tc.field)
			}
		})
	}
}

func FuzzVerifyCounter(f *testing.F) {
	k := testKeys(f)
	c := Counter{ID: "ctr-1", Requester: k.requester.DID(), RequestID: "req-1", RequestHash: TokenHash("r"),
		Terms: testTerms(k.owner.DID()), ExpiresAt: now.Add(time.Hour)}
	c.Terms.DatasetDigest = ""
	tok, err := SignCounter(k.owner, c, now)
	if err != nil {
		f.Fatal(err)
	}
	co, err := VerifyCounter(tok, k.owner.DID(), k.requester.DID(), now)
	if err != nil {
		f.Fatal(err)
	}
	reply, err := SignReply(k.requester, co, Accept, now)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tok)
	f.Add(reply)
	f.Fuzz(func(t *testing.T, tok string) {
		if c, err := VerifyCounter(tok, k.owner.DID(), k.requester.DID(), now); err == nil && c.Vault != k.owner.DID() {
			t.Fatal("accepted a counter-offer from another vault")
		}
		if r, err := VerifyReply(tok, k.owner.DID(), now); err == nil && r.Answer != Accept && r.Answer != Decline {
			t.Fatal("accepted a reply without a valid answer")
		}
	})
}
