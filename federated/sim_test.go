package federated

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/trove-project/trove"
	"github.com/trove-project/trove/compute"
	"github.com/trove-project/trove/consent"
	"github.com/trove-project/trove/dataset"
	"github.com/trove-project/trove/internal/sampledata"
)

const bcLabel = "malignant0_benign1"

func breastCancer(t testing.TB) *dataset.Table {
	t.Helper()
	tab, err := dataset.ReadCSV(bytes.NewReader(sampledata.BreastCancer()), dataset.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func simulate(t *testing.T, cfg SimConfig) *SimResult {
	t.Helper()
	cfg.Dir = t.TempDir()
	if cfg.Training.Detector == nil {
		cfg.Training.Detector = &Detector{}
	}
	if cfg.Training.Epochs == 0 {
		cfg.Training.Epochs = 5
	}
	res, err := Simulate(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// Ten IID vaults come within two points of the same model trained on the
// pooled rows (the target is one point; the margin covers seeds).
func TestSimIIDMatchesCentralized(t *testing.T) {
	data := breastCancer(t)
	for _, seed := range []uint64{1, 2} {
		res := simulate(t, SimConfig{Data: data, Label: bcLabel, Vaults: 10, Split: "iid", Rounds: 8, Seed: seed})
		if res.FederatedAccuracy < 0.93 || math.Abs(res.FederatedAccuracy-res.CentralizedAccuracy) > 0.02 {
			t.Errorf("seed %d: federated %.4f, centralized %.4f", seed, res.FederatedAccuracy, res.CentralizedAccuracy)
		}
		if len(res.Flagged) != 0 || res.HonestFlagRate != 0 {
			t.Errorf("seed %d: honest vaults flagged: %v", seed, res.Flagged)
		}
		st := res.State
		if len(st.Rounds) != 8 || st.Model.Scale == nil {
			t.Fatalf("seed %d: %d rounds, standardised %v", seed, len(st.Rounds), st.Model.Scale != nil)
		}
		for _, p := range st.Rounds[0].Participants {
			if p.Status != StatusUsed || p.ReceiptID == "" || p.JobID == "" || p.Samples == 0 {
				t.Fatalf("seed %d: participant %+v", seed, p)
			}
			// The report says what limits the update was held to.
			if p.Score == nil || p.Score.Limits.DistRatio < 3 || p.Score.Limits.NormRatio < 3 || p.Score.Limits.Cosine > 0 {
				t.Fatalf("seed %d: score %+v", seed, p.Score)
			}
		}
	}
}

// Two of ten vaults poisoned: a robust aggregator keeps the accuracy of
// the clean run, the poisoned vaults are flagged (with the receipt that
// proves who sent the update) and earn nothing, the honest ones are not.
func TestSimPoisonedVaultsAreFlagged(t *testing.T) {
	data := breastCancer(t)
	clean := simulate(t, SimConfig{Data: data, Label: bcLabel, Vaults: 10, Split: "iid", Rounds: 5, Seed: 3})
	for _, tc := range []struct {
		poison string
		agg    Aggregator
		reason string // why the poisoned are flagged, when it is always the same
	}{
		{"2:label-flip", Median{}, ""},
		{"2:label-flip", Krum{F: 2, Multi: true}, ""},
		{"2:scale:10", Median{}, "params_mismatch"},
		{"2:scale:10", Krum{F: 2, Multi: true}, "params_mismatch"},
		{"2:noise", FedAvg{}, "receipt_mismatch"},
	} {
		p, err := ParsePoison(tc.poison)
		if err != nil {
			t.Fatal(err)
		}
		res := simulate(t, SimConfig{Data: data, Label: bcLabel, Vaults: 10, Split: "iid", Rounds: 5, Seed: 3, Poison: p,
			Training: Config{Aggregator: tc.agg, Price: consent.Money{Amount: 100, Currency: "EUR"}}})
		name := tc.poison + " " + tc.agg.String()
		if res.PoisonedFlagRate < 0.9 || res.HonestFlagRate > 0.1 {
			t.Errorf("%s: poisoned %v flagged %v (rates %.2f, %.2f)", name, res.Poisoned, res.Flagged, res.PoisonedFlagRate, res.HonestFlagRate)
		}
		if res.FederatedAccuracy < clean.FederatedAccuracy-0.03 {
			t.Errorf("%s: accuracy %.4f, clean run %.4f", name, res.FederatedAccuracy, clean.FederatedAccuracy)
		}
		for _, r := range res.State.Rounds {
			var paid int64
			for _, pr := range r.Participants {
				paid += pr.Payout
				if pr.Status == StatusFlagged && (pr.Payout != 0 || pr.ReceiptID == "" || pr.Reason == "" || (tc.reason != "" && pr.Reason != tc.reason)) {
					t.Fatalf("%s: flagged %+v", name, pr)
				}
				if pr.ReceiptID == "" {
					continue // no verified receipt, no contribution
				}
				cc, err := consent.VerifyContribution(pr.Contribution, time.Now())
				if err != nil {
					t.Fatalf("%s: round %d vault %d: contribution: %v", name, r.Round, pr.Index, err)
				}
				if cc.Subject != pr.Vault || cc.Round != r.Round || cc.Flagged != (pr.Status == StatusFlagged) || cc.Payout.Amount != pr.Payout || cc.ReceiptID != pr.ReceiptID {
					t.Fatalf("%s: contribution %+v for %+v", name, cc, pr)
				}
			}
			if paid != 100*int64(r.Updates) {
				t.Fatalf("%s: round %d paid %d of 100 × %d updates", name, r.Round, paid, r.Updates)
			}
		}
	}
}

// Under DP each vault's accountant refuses rounds beyond its budget: with
// the budget divided into two rounds, rounds 3 and 4 are refused by every
// vault, have no quorum, leave the model as it was, and are not charged.
func TestSimDPBudgetIsEnforced(t *testing.T) {
	ctx := context.Background()
	s, err := NewSim(ctx, SimConfig{Data: breastCancer(t), Label: bcLabel, Vaults: 4, Split: "iid", Rounds: 4, DPRounds: 2, DPEpsilon: 1, Seed: 4,
		Dir: t.TempDir(), Training: Config{Detector: &Detector{}, LearningRate: 0.5}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	res, err := s.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st := res.State
	var after2 []float64
	for _, r := range st.Rounds {
		wantQuorum := r.Round <= 2
		if r.Quorum != wantQuorum {
			t.Fatalf("round %d: quorum %v", r.Round, r.Quorum)
		}
		for _, p := range r.Participants {
			if wantQuorum && (p.Status == StatusSkipped || p.Epsilon <= 0) {
				t.Fatalf("round %d: %+v", r.Round, p)
			}
			if !wantQuorum && (p.Status != StatusSkipped || p.Reason != "budget_exhausted") {
				t.Fatalf("round %d: %+v", r.Round, p)
			}
		}
		if r.Round == 2 {
			after2 = slices.Clone(st.Model.Weights)
		}
	}
	if !slices.Equal(after2, st.Model.Weights) {
		t.Fatal("refused rounds moved the model")
	}
	if res.EpsilonSpent > 1+1e-6 || res.EpsilonSpent < 0.99 {
		t.Fatalf("epsilon spent %g of 1", res.EpsilonSpent)
	}
	for i, v := range s.Vaults {
		priv, err := v.Privacy(ctx, SimDataset)
		if err != nil {
			t.Fatal(err)
		}
		if want := 2 * s.Policy.Rho(); math.Abs(priv.SpentRho-want) > 1e-12*want {
			t.Fatalf("vault %d spent ρ %g, two rounds cost %g", i, priv.SpentRho, want)
		}
	}
}

// The ρ a vault's accountant charges for a training job is what its
// DP-SGD spends: T steps of noise multiplier z cost T/(2z²), whatever T.
// A job beyond the budget is refused and charges nothing.
func TestDPChargeIsWhatTheMechanismSpends(t *testing.T) {
	ctx := context.Background()
	s, err := NewSim(ctx, SimConfig{Data: breastCancer(t), Label: bcLabel, Vaults: 1, Split: "iid", Rounds: 3, DPRounds: 2, DPEpsilon: 2, Seed: 13, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	v, p := s.Vaults[0], s.Participants[0]
	spent := func() float64 {
		priv, err := v.Privacy(ctx, SimDataset)
		if err != nil {
			t.Fatal(err)
		}
		return priv.SpentRho
	}
	c := &Coordinator{cfg: s.Training.withDefaults(1)}
	for _, steps := range []int{1, 4} {
		c.cfg.Epochs = steps
		params, err := c.params(compute.LogRegModel{Target: bcLabel, Classes: 2, Features: s.Training.Features, Center: s.Training.Center, Scale: s.Training.Scale}, false)
		if err != nil {
			t.Fatal(err)
		}
		before := spent()
		reply, err := p.Run(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		var res struct {
			DP struct {
				Unit            string
				Steps           int
				NoiseMultiplier float64 `json:"noise_multiplier"`
				Rho             float64
			}
			Loss *float64
		}
		if err := json.Unmarshal(reply.Result, &res); err != nil {
			t.Fatal(err)
		}
		z := res.DP.NoiseMultiplier
		mechanism := float64(res.DP.Steps) / (2 * z * z)
		if charged := spent() - before; res.DP.Steps != steps || res.DP.Unit != "row" || res.Loss != nil ||
			math.Abs(charged-mechanism) > 1e-9*mechanism || math.Abs(res.DP.Rho-mechanism) > 1e-9*mechanism {
			t.Fatalf("%d steps: the vault charged ρ %g, the mechanism spent %g (%+v)", steps, charged, mechanism, res.DP)
		}
	}
	before := spent()
	if _, err := p.Run(ctx, json.RawMessage(`{"target":"`+bcLabel+`","classes":2,"clip":1}`)); trove.ErrorReason(err) != "budget_exhausted" {
		t.Fatalf("a job beyond the budget: %v", err)
	}
	if spent() != before {
		t.Fatalf("a refused job was charged: ρ %g, before %g", spent(), before)
	}
}

// At ε = 1 per vault over the whole training, ten vaults of breast_cancer
// train a useful model: per-row DP-SGD's noise shrinks with the rows. The
// floor is four test rows (of 113) below the lowest of 40 runs of this
// configuration (0.920; mean 0.962; the noise is the vaults' own secret,
// so every run differs); the majority class alone scores 0.63.
func TestSimDPIsUsefulAtEpsilonOne(t *testing.T) {
	res := simulate(t, SimConfig{Data: breastCancer(t), Label: bcLabel, Vaults: 10, Split: "iid", Rounds: 10, DPEpsilon: 1, Seed: 1,
		Training: Config{Epochs: 1, LearningRate: 0.5}})
	if res.FederatedAccuracy < 0.88 {
		t.Fatalf("federated accuracy %.4f at ε = 1 (centralized without DP %.4f)", res.FederatedAccuracy, res.CentralizedAccuracy)
	}
	if res.EpsilonSpent > 1+1e-6 || res.EpsilonSpent < 0.99 || res.CentralizedDPAccuracy == nil {
		t.Fatalf("ε spent %g; centralized under dp %v", res.EpsilonSpent, res.CentralizedDPAccuracy)
	}
	for _, r := range res.State.Rounds {
		for _, p := range r.Participants {
			if p.Status == StatusSkipped || p.Epsilon <= 0 || p.Loss != 0 {
				t.Fatalf("round %d: %+v", r.Round, p)
			}
		}
	}
}

// A coordinator restarted with its round file resumes after the last
// round it completed; a round file of other vaults is refused.
func TestCoordinatorResumesFromRoundFile(t *testing.T) {
	ctx := context.Background()
	s, err := NewSim(ctx, SimConfig{Data: breastCancer(t), Label: bcLabel, Vaults: 3, Split: "iid", Rounds: 4, Seed: 5, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	file := filepath.Join(t.TempDir(), "rounds.json")
	tc := s.Training
	tc.RoundFile, tc.Rounds = file, 2
	co, err := NewCoordinator(tc, s.Participants)
	if err != nil {
		t.Fatal(err)
	}
	first, err := co.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tc.Rounds = 4
	var seen []int
	tc.Progress = func(r RoundReport) { seen = append(seen, r.Round) }
	co, err = NewCoordinator(tc, s.Participants)
	if err != nil {
		t.Fatal(err)
	}
	st, err := co.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seen, []int{3, 4}) || len(st.Rounds) != 4 || st.Rounds[1].Participants[0].ReceiptID != first.Rounds[1].Participants[0].ReceiptID {
		t.Fatalf("resumed rounds %v, %d in the file", seen, len(st.Rounds))
	}
	var onDisk State
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &onDisk); err != nil || len(onDisk.Rounds) != 4 || !slices.Equal(onDisk.Model.Weights, st.Model.Weights) {
		t.Fatalf("round file: %v, %d rounds", err, len(onDisk.Rounds))
	}
	co, err = NewCoordinator(tc, s.Participants[:2])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := co.Run(ctx); err == nil {
		t.Fatal("a round file of three vaults was used for two")
	}
}

// hangingVault never answers: a vault that hangs (or a network that
// drops) as the coordinator sees it.
type hangingVault struct{ did string }

func (h hangingVault) DID() string { return h.did }
func (h hangingVault) Run(ctx context.Context, _ json.RawMessage) (*Reply, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// A vault that does not answer in time is skipped for the round; the
// others still make a quorum. Too few answers leave the model unchanged.
func TestCoordinatorSkipsSlowVaults(t *testing.T) {
	ctx := context.Background()
	s, err := NewSim(ctx, SimConfig{Data: breastCancer(t), Label: bcLabel, Vaults: 3, Split: "iid", Rounds: 3, Seed: 6, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tc := s.Training
	tc.Rounds = 2 // the consents allow one more run, for the last check
	tc.Timeout = 300 * time.Millisecond
	tc.Quorum = 3
	parts := append(slices.Clone(s.Participants), hangingVault{did: "did:key:hang"})
	co, err := NewCoordinator(tc, parts)
	if err != nil {
		t.Fatal(err)
	}
	st, err := co.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range st.Rounds {
		if !r.Quorum || r.Updates != 3 || r.Participants[3].Status != StatusSkipped || r.Participants[3].Reason != "timeout" {
			t.Fatalf("round %d: %+v", r.Round, r)
		}
	}
	tc.Quorum, tc.Rounds, tc.Standardise = 3, 1, false
	co, err = NewCoordinator(tc, append(parts[:1], hangingVault{"did:key:a"}, hangingVault{"did:key:b"}))
	if err != nil {
		t.Fatal(err)
	}
	st, err = co.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Rounds[0].Quorum || st.Model.Weights != nil || st.Rounds[0].Participants[0].Reason != "no quorum" {
		t.Fatalf("a round without a quorum changed the model: %+v", st.Rounds[0])
	}
}

func TestParsePoison(t *testing.T) {
	good := map[string]Poison{"2:label-flip": {2, PoisonLabelFlip, 0}, "1:scale:10": {1, PoisonScale, 10}, "0:noise": {0, PoisonNoise, 0}}
	for in, want := range good {
		if got, err := ParsePoison(in); err != nil || got != want {
			t.Errorf("ParsePoison(%q) = %+v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "2", "x:noise", "-1:noise", "2:scale", "2:scale:0", "2:scale:NaN", "2:noise:1", "2:label-flip:1", "2:other"} {
		if _, err := ParsePoison(bad); err == nil {
			t.Errorf("ParsePoison(%q) succeeded", bad)
		}
	}
}

func FuzzParsePoison(f *testing.F) {
	for _, s := range []string{"2:label-flip", "1:scale:10", "3:noise", "1:scale:1e309"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePoison(s)
		if err != nil {
			return
		}
		if p.Count < 0 || (p.Kind == PoisonScale && !(p.Scale > 0 && p.Scale <= 1000)) {
			t.Fatalf("%q parsed as %+v", s, p)
		}
	})
}

func TestParseTrainResult(t *testing.T) {
	good := `{"algorithm":"builtin:logreg-train@1","features":["a","b"],"update":[0.5,-1,2],"samples":40.4,"loss":0.3}`
	res, err := parseTrainResult([]byte(good), 3, []string{"a", "b"})
	if err != nil || res.Samples != 40 || res.Loss != 0.3 || len(res.Update) != 3 {
		t.Fatalf("%+v, %v", res, err)
	}
	for _, bad := range []string{
		``, `[]`, `{"update":[],"samples":1}`, `{"update":[1,2],"samples":1}`, `{"update":[1,null,2],"samples":1,"features":["a","b"]}`,
		`{"update":[1,2,3],"features":["a","b"]}`, `{"update":[1,2,3],"samples":1e300,"features":["a","b"]}`,
		`{"update":[1,2,3],"samples":1,"features":["b","a"]}`, `{"update":[1,2,"x"],"samples":1,"features":["a","b"]}`,
	} {
		if _, err := parseTrainResult([]byte(bad), 3, []string{"a", "b"}); err == nil {
			t.Errorf("%s parsed", bad)
		}
	}
}

func FuzzParseTrainResult(f *testing.F) {
	f.Add([]byte(`{"features":["a"],"update":[0.5,-1],"samples":40,"loss":0.3}`), 2)
	f.Add([]byte(`{"update":[1e308,1e308],"samples":-3}`), 0)
	f.Fuzz(func(t *testing.T, b []byte, want int) {
		res, err := parseTrainResult(b, want, nil)
		if err != nil {
			return
		}
		if res.Samples < 0 || len(res.Update) == 0 || (want != 0 && len(res.Update) != want) {
			t.Fatalf("accepted %+v", res)
		}
		if _, err := checkUpdates([]Update{{Delta: res.Update}}); err != nil {
			t.Fatalf("accepted an update the aggregators refuse: %v", err)
		}
	})
}

// With MaxEpsilon set the coordinator takes only updates released under
// dp, from vaults whose spent budget is within it.
func TestCoordinatorTakesOnlyPrivateUpdates(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		dp, max float64
		reason  string
	}{{0, 1, "not_private"}, {1, 0.5, "over_epsilon"}} {
		s, err := NewSim(ctx, SimConfig{Data: breastCancer(t), Label: bcLabel, Vaults: 3, Split: "iid", Rounds: 2, DPRounds: 2, DPEpsilon: tc.dp, Seed: 8, Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		cfg := s.Training
		cfg.MaxEpsilon, cfg.Rounds = tc.max, 1
		co, err := NewCoordinator(cfg, s.Participants)
		if err != nil {
			t.Fatal(err)
		}
		st, err := co.Run(ctx)
		s.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range st.Rounds[0].Participants {
			if p.Status != StatusSkipped || p.Reason != tc.reason || p.ReceiptID == "" {
				t.Fatalf("dp %g, max ε %g: %+v", tc.dp, tc.max, p)
			}
		}
	}
}

// A vault whose owner revokes the consent mid-training is skipped from
// then on; the others carry on.
func TestCoordinatorSkipsRevokedVault(t *testing.T) {
	ctx := context.Background()
	s, err := NewSim(ctx, SimConfig{Data: breastCancer(t), Label: bcLabel, Vaults: 3, Split: "iid", Rounds: 3, Seed: 9, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cfg := s.Training
	cfg.Progress = func(r RoundReport) {
		if r.Round != 1 {
			return
		}
		cs, err := s.Vaults[0].Consents(ctx)
		if err != nil || len(cs) != 1 {
			t.Fatalf("consents: %v, %v", cs, err)
		}
		if _, err := s.Vaults[0].Revoke(ctx, cs[0].ID); err != nil {
			t.Fatal(err)
		}
	}
	co, err := NewCoordinator(cfg, s.Participants)
	if err != nil {
		t.Fatal(err)
	}
	st, err := co.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range st.Rounds {
		p := r.Participants[0]
		if r.Round == 1 && p.Status != StatusUsed || r.Round > 1 && (p.Status != StatusSkipped || p.Reason != "revoked") || !r.Quorum || r.Updates != 3-min(r.Round-1, 1) {
			t.Fatalf("round %d: %+v (%d updates)", r.Round, p, r.Updates)
		}
	}
}

// interrupter stands for the coordinator's operator pressing Ctrl-C while
// a round waits for this vault: on its nth call it cancels the run.
type interrupter struct {
	Participant
	n, calls int
	cancel   func()
}

func (p *interrupter) Run(ctx context.Context, params json.RawMessage) (*Reply, error) {
	if p.calls++; p.calls == p.n {
		p.cancel()
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return p.Participant.Run(ctx, params)
}

// A coordinator interrupted mid-round records nothing of that round, so a
// restart runs it again.
func TestInterruptedRoundIsNotRecorded(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := NewSim(ctx, SimConfig{Data: breastCancer(t), Label: bcLabel, Vaults: 3, Split: "iid", Rounds: 3, Seed: 10, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cfg := s.Training
	cfg.RoundFile = filepath.Join(t.TempDir(), "rounds.json")
	parts := slices.Clone(s.Participants)
	// Calls: the moments, round 1, then round 2 is interrupted.
	parts[0] = &interrupter{Participant: parts[0], n: 3, cancel: cancel}
	co, err := NewCoordinator(cfg, parts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := co.Run(ctx); err == nil {
		t.Fatal("an interrupted run returned no error")
	}
	var st State
	b, err := os.ReadFile(cfg.RoundFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &st); err != nil || len(st.Rounds) != 1 {
		t.Fatalf("round file: %v, %d rounds", err, len(st.Rounds))
	}
}

func FuzzSplitSpec(f *testing.F) {
	for _, s := range []string{"iid", "dirichlet:0.5", "one-class", "dirichlet:", "dirichlet:NaN", "dirichlet:1e-300"} {
		f.Add(s)
	}
	labels := []int{0, 1, 0, 1, 1, 0, 0, 1, 1, 1, 0, 0}
	f.Fuzz(func(t *testing.T, spec string) {
		parts, err := split(spec, labels, 2, rand.New(rand.NewPCG(1, 2)))
		if err != nil {
			return
		}
		partition(t, parts, len(labels))
	})
}
