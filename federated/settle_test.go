package federated

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/ledger"
)

// vaultClaims returns every claim the simulation's vaults hold, by id.
func vaultClaims(t *testing.T, s *Sim) map[string]ledger.Claim {
	t.Helper()
	out := map[string]ledger.Claim{}
	for _, v := range s.Vaults {
		cs, err := v.Claims(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			out[c.ID] = c
		}
	}
	return out
}

// checkSettled checks one round's record against the vaults' claims:
// every participant with a verified receipt has its claim settled at its
// payout with its credential, a flagged one at nothing, and the settled
// amounts sum to the price times the updates received.
func checkSettled(t *testing.T, name string, round int, prs []ParticipantRound, updates int, price consent.Money, claims map[string]ledger.Claim) {
	t.Helper()
	var sum int64
	for _, pr := range prs {
		if pr.ReceiptID == "" {
			continue
		}
		c, ok := claims[pr.ClaimID]
		if !ok || !pr.Settled || pr.SettleError != "" {
			t.Fatalf("%s: round %d vault %d: claim %q settled %v (%s)", name, round, pr.Index, pr.ClaimID, pr.Settled, pr.SettleError)
		}
		if c.State != ledger.ClaimStateSettled || c.ReceiptID != pr.ReceiptID || c.Settled == nil || *c.Settled != pr.Payout ||
			c.Contribution != pr.Contribution || c.Amount != price.Amount || c.Share != ledger.ShareContribution {
			t.Fatalf("%s: round %d vault %d: the vault holds %+v for %+v", name, round, pr.Index, c, pr)
		}
		cc, err := consent.VerifyContribution(pr.Contribution, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		flagged := pr.Status == StatusFlagged
		if cc.Round != round || cc.Flagged != flagged || cc.Payout.Amount != pr.Payout || cc.Pool.Amount != price.Amount*int64(updates) ||
			cc.Pool.Currency != price.Currency || cc.ReceiptID != pr.ReceiptID || cc.Subject != pr.Vault {
			t.Fatalf("%s: round %d vault %d: credential %+v", name, round, pr.Index, cc)
		}
		if flagged && *c.Settled != 0 {
			t.Fatalf("%s: round %d: flagged vault %d settled at %d", name, round, pr.Index, *c.Settled)
		}
		sum += *c.Settled
	}
	if want := price.Amount * int64(updates); sum != want {
		t.Fatalf("%s: round %d settled %d in all, want %d × %d updates = %d", name, round, sum, price.Amount, updates, want)
	}
}

// Ten vaults, two of them poisoned: each round's claims (and those of the
// feature moments) are settled at the vaults right after the round, the
// flagged ones at nothing, and each round's settled amounts sum exactly
// to the price times the updates received and match the credentials. No
// claim is left provisional.
func TestSimClaimsSettleByShare(t *testing.T) {
	ctx := context.Background()
	price := consent.Money{Amount: 25, Currency: "EUR"}
	for _, poison := range []string{"2:label-flip", "2:scale:10"} {
		p, err := ParsePoison(poison)
		if err != nil {
			t.Fatal(err)
		}
		s, err := NewSim(ctx, SimConfig{Data: breastCancer(t), Label: bcLabel, Vaults: 10, Split: "iid", Rounds: 4, Seed: 3, Poison: p, Dir: t.TempDir(),
			Training: Config{Aggregator: Median{}, Detector: &Detector{}, Epochs: 5, Price: price}})
		if err != nil {
			t.Fatal(err)
		}
		res, err := s.Run(ctx)
		if err != nil {
			s.Close()
			t.Fatal(err)
		}
		claims := vaultClaims(t, s)
		s.Close()
		if !slices.Equal(res.Flagged, res.Poisoned) {
			t.Fatalf("%s: flagged %v, poisoned %v", poison, res.Flagged, res.Poisoned)
		}
		st := res.State
		used := 0
		for _, pr := range st.Moments {
			if pr.Status == StatusUsed {
				used++
			}
		}
		checkSettled(t, poison, 0, st.Moments, used, price, claims)
		seen := len(st.Moments)
		for _, r := range st.Rounds {
			checkSettled(t, poison, r.Round, r.Participants, r.Updates, price, claims)
			seen += len(r.Participants)
		}
		if len(claims) != seen {
			t.Fatalf("%s: the vaults hold %d claims, the rounds record %d", poison, len(claims), seen)
		}
	}
}

// flakySettler is a participant whose settlements fail: "down" fails
// before anything is sent; "lost" settles and loses the vault's answer.
type flakySettler struct {
	Participant
	mode string
}

func (f *flakySettler) Settle(ctx context.Context, claim *ledger.Claim, contribution string) (*ledger.Claim, error) {
	s := f.Participant.(Settler)
	switch f.mode {
	case "down":
		return nil, trove.Errorf(trove.EUNAVAILABLE, "the network is down")
	case "lost":
		if _, err := s.Settle(ctx, claim, contribution); err != nil {
			return nil, err
		}
		return nil, trove.Errorf(trove.EUNAVAILABLE, "the answer was lost")
	}
	return s.Settle(ctx, claim, contribution)
}

func (f *flakySettler) Claim(ctx context.Context, id string) (*ledger.Claim, error) {
	return f.Participant.(Settler).Claim(ctx, id)
}

// Settlements that fail are recorded with why; a coordinator resumed from
// its round file tries them again, without running any round again, and
// counts a settlement whose answer was lost once the vault shows it.
func TestResumeRetriesFailedSettlements(t *testing.T) {
	ctx := context.Background()
	s, err := NewSim(ctx, SimConfig{Data: breastCancer(t), Label: bcLabel, Vaults: 3, Split: "iid", Rounds: 2, Seed: 5, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	down, lost := &flakySettler{s.Participants[0], "down"}, &flakySettler{s.Participants[1], "lost"}
	parts := []Participant{down, lost, s.Participants[2]}
	cfg := s.Training
	cfg.RoundFile = filepath.Join(t.TempDir(), "rounds.json")
	co, err := NewCoordinator(cfg, parts)
	if err != nil {
		t.Fatal(err)
	}
	st, err := co.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range append([][]ParticipantRound{st.Moments}, st.Rounds[0].Participants, st.Rounds[1].Participants) {
		if r[0].Settled || r[0].SettleError != "unavailable" || r[1].Settled || r[1].SettleError != "unavailable" || !r[2].Settled {
			t.Fatalf("first run: %+v", r)
		}
	}
	owed := func(i int) int {
		cs, err := s.Vaults[i].Claims(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, c := range cs {
			if c.State == ledger.ClaimOwed {
				n++
			}
		}
		return n
	}
	if owed(0) != 3 || owed(1) != 0 {
		t.Fatalf("owed claims: vault 0 %d (want 3), vault 1 %d (want 0: settled, the answer lost)", owed(0), owed(1))
	}

	down.mode, lost.mode = "", ""
	var progress []int
	cfg.Progress = func(r RoundReport) { progress = append(progress, r.Round) }
	co, err = NewCoordinator(cfg, parts)
	if err != nil {
		t.Fatal(err)
	}
	if st, err = co.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if len(progress) != 0 || len(st.Rounds) != 2 {
		t.Fatalf("the resumed run ran rounds %v", progress)
	}
	if owed(0) != 0 || owed(1) != 0 {
		t.Fatalf("after the resume: %d and %d claims still owed", owed(0), owed(1))
	}
	var onDisk State
	b, err := os.ReadFile(cfg.RoundFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &onDisk); err != nil {
		t.Fatal(err)
	}
	claims := vaultClaims(t, s)
	checkSettled(t, "resumed", 0, onDisk.Moments, 3, cfg.Price, claims)
	for _, r := range onDisk.Rounds {
		checkSettled(t, "resumed", r.Round, r.Participants, r.Updates, cfg.Price, claims)
	}
}
