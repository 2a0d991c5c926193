package federated

import (
	"context"
	"fmt"
	"testing"

	"github.com/trove-project/trove/compute"
)

// BenchmarkRound is one training round over 10 real vaults on HTTP (per
// vault: challenge, presentation, consent and nonce checks, the built-in,
// receipt, checkpoint check; then scores, aggregation, shares, Contribution
// credentials and the test-set score), beside the baseline of the same
// ten training steps run in-process with no vault at all. The ratio is
// what consent, transport and proof cost per round. federated=unsettled
// leaves the round's claims provisional; federated=settled also settles
// each vault's claim under the share rule right after the round (a
// signed settlement per vault, over HTTP, which the vault checks against
// the claim and the Contribution credential, and logs).
func BenchmarkRound(b *testing.B) {
	ctx := context.Background()
	const vaults = 10
	s, err := NewSim(ctx, SimConfig{Data: breastCancer(b), Label: bcLabel, Vaults: vaults, Split: "iid", Rounds: 9000, Seed: 1, Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	tc := s.Training
	tc.Standardise = false
	if tc.Center, tc.Scale, tc.Features, err = HeldOutMoments(ctx, s.Train, tc.Target, tc.Classes); err != nil {
		b.Fatal(err)
	}
	tc.Rounds, tc.Detector = MaxRounds, &Detector{}
	co, err := NewCoordinator(tc, s.Participants)
	if err != nil {
		b.Fatal(err)
	}
	st, err := co.load()
	if err != nil {
		b.Fatal(err)
	}
	// The baseline trains on each vault's rows directly.
	tables := make([]*compute.Input, vaults)
	for i, t := range s.Tables {
		tables[i] = &compute.Input{Table: t}
	}
	var baseline float64
	b.Run("baseline=in-process", func(b *testing.B) {
		params, err := co.params(st.Model, false)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			for _, in := range tables {
				in.Params, in.JobID = params, fmt.Sprint("bench-", i)
				if _, err := compute.RunBuiltin(ctx, compute.LogRegTrainID, *in); err != nil {
					b.Fatal(err)
				}
			}
		}
		baseline = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	for _, settle := range []bool{false, true} {
		name := "federated=unsettled"
		if settle {
			name = "federated=settled"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for r := 1; b.Loop(); r++ {
				rep, err := co.round(ctx, st, len(st.Rounds)+1)
				if err != nil {
					b.Fatal(err)
				}
				if rep.Updates != vaults {
					b.Fatalf("round %d: %d updates", r, rep.Updates)
				}
				st.Rounds = append(st.Rounds, *rep)
				if settle {
					co.settle(ctx, st, rep.Round)
					for _, p := range st.Rounds[len(st.Rounds)-1].Participants {
						if !p.Settled {
							b.Fatalf("round %d: vault %d not settled: %s", rep.Round, p.Index, p.SettleError)
						}
					}
				}
			}
			if baseline > 0 {
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/baseline, "x-baseline")
			}
		})
	}
}
