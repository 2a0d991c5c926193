package federated

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/trove-project/trove/compute"
	"github.com/trove-project/trove/dataset"
)

// fixedLimits is the detector as it was before its limits adapted: the
// old default limits, always.
var fixedLimits = Detector{MaxDistRatio: 2, MaxNormRatio: 3, Spread: -1}

// localRounds trains rounds rounds over breast_cancer dealt to n shards
// (the first flipped of them label-flipped) in-process, by the built-in
// every vault runs, and calls score with each round's updates; the model
// moves by the median of what det does not flag.
func localRounds(t *testing.T, seed uint64, n, flipped, rounds int, det Detector, score func(round int, ups []Update)) {
	t.Helper()
	ctx := context.Background()
	data := breastCancer(t)
	labels, k, err := tableLabels(data, bcLabel, 0)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	train, _, err := StratifiedHoldout(labels, 0.2, rng)
	if err != nil {
		t.Fatal(err)
	}
	parts, err := SplitIID(len(train), n, rng)
	if err != nil {
		t.Fatal(err)
	}
	tables := make([]*dataset.Table, n)
	for i, part := range parts {
		rows := make([]int, len(part))
		for j, r := range part {
			rows[j] = train[r]
		}
		tables[i] = data.Take(rows)
		if i < flipped {
			flipLabels(tables[i], bcLabel, k)
		}
	}
	center, scale, features, err := HeldOutMoments(ctx, data.Take(train), bcLabel, 2)
	if err != nil {
		t.Fatal(err)
	}
	m := compute.LogRegModel{Target: bcLabel, Classes: 2, Features: features, Center: center, Scale: scale}
	c := &Coordinator{cfg: Config{Target: bcLabel, Epochs: 5}.withDefaults(n)}
	for r := range rounds {
		params, err := c.params(m, false)
		if err != nil {
			t.Fatal(err)
		}
		ups := make([]Update, n)
		for i, tab := range tables {
			out, err := compute.RunBuiltin(ctx, compute.LogRegTrainID, compute.Input{JobID: fmt.Sprintf("job-%d-%d-%d", seed, r, i), Table: tab, Params: params})
			if err != nil {
				t.Fatal(err)
			}
			res, err := parseTrainResult(out.Result, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			ups[i] = Update{Delta: res.Update, Samples: res.Samples}
		}
		score(r, ups)
		scores, err := det.Score(ups)
		if err != nil {
			t.Fatal(err)
		}
		var kept []Update
		for i, s := range scores {
			if !s.Flagged {
				kept = append(kept, ups[i])
			}
		}
		delta, _, err := Median{}.Aggregate(kept)
		if err != nil {
			t.Fatal(err)
		}
		if m.Weights == nil {
			m.Weights = make([]float64, len(delta))
		}
		for j, d := range delta {
			m.Weights[j] += d
		}
	}
}

// Rounds of 100 real local training steps (4–5 rows each, as in the
// 100-vault simulation), 20 of them over label-flipped rows: the adaptive
// limits flag every flipped update, as the fixed limits do, and far fewer
// honest ones. (Measured: fixed 72 of 2,000 honest updates, adaptive 3.)
func TestAdaptiveLimitsFlagFewerHonestUpdates(t *testing.T) {
	var fixedHonest, adaptiveHonest, honest, missed int
	for seed := range uint64(5) {
		localRounds(t, seed+1, 100, 20, 5, Detector{}, func(round int, ups []Update) {
			fixed, err := fixedLimits.Score(ups)
			if err != nil {
				t.Fatal(err)
			}
			adaptive, err := Detector{}.Score(ups)
			if err != nil {
				t.Fatal(err)
			}
			for i := range ups {
				if i < 20 {
					if !adaptive[i].Flagged || !fixed[i].Flagged {
						missed++
						t.Errorf("seed %d round %d: flipped update %d not flagged: adaptive %+v, fixed %+v", seed+1, round, i, adaptive[i], fixed[i])
					}
					continue
				}
				honest++
				if fixed[i].Flagged {
					fixedHonest++
				}
				if adaptive[i].Flagged {
					adaptiveHonest++
				}
			}
		})
	}
	t.Logf("honest updates flagged: fixed limits %d, adaptive %d, of %d; flipped missed %d", fixedHonest, adaptiveHonest, honest, missed)
	if adaptiveHonest*4 > fixedHonest || adaptiveHonest > honest/100 {
		t.Fatalf("honest updates flagged: fixed limits %d, adaptive %d, of %d", fixedHonest, adaptiveHonest, honest)
	}
}

// tightRound makes n updates at almost the same distance r from a common
// direction (so the spread of their distances is tiny), then one update
// at each of the given multiples of r.
func tightRound(rng *rand.Rand, n, dim int, r float64, far ...float64) []Update {
	dir := make([]float64, dim)
	for j := range dir {
		dir[j] = 10 + rng.Float64()
	}
	offset := func(scale float64) []float64 {
		d := make([]float64, dim)
		var sq float64
		for j := range d {
			d[j] = rng.NormFloat64()
			sq += d[j] * d[j]
		}
		for j := range d {
			d[j] = dir[j] + scale*d[j]/math.Sqrt(sq)
		}
		return d
	}
	var ups []Update
	for range n {
		ups = append(ups, Update{Delta: offset(r), Samples: 10})
	}
	for _, f := range far {
		ups = append(ups, Update{Delta: offset(f * r), Samples: 10})
	}
	return ups
}

// In a tight round the spread would put the limits just above the median;
// the fixed limits stay floors: 2.5 times the median distance is not
// flagged, 4 times is.
func TestDetectorKeepsItsFloorsInTightRounds(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	ups := tightRound(rng, 30, 31, 0.5, 2.5, 4)
	scores, err := Detector{}.Score(ups)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Limits{DistRatio: 3, NormRatio: 3, Cosine: 0}); scores[0].Limits != want {
		t.Fatalf("limits %+v, want the floors %+v", scores[0].Limits, want)
	}
	for i, s := range scores {
		if s.Flagged != (i == 31) {
			t.Fatalf("update %d (distance ratio %.2f): flagged %v", i, s.DistRatio, s.Flagged)
		}
	}
	// The floors are what the owner of the coordinator sets.
	scores, err = Detector{MaxDistRatio: 2}.Score(ups)
	if err != nil {
		t.Fatal(err)
	}
	if !scores[30].Flagged || !scores[31].Flagged || scores[0].Limits.DistRatio != 2 {
		t.Fatalf("floor 2: %+v, %+v", scores[30], scores[31])
	}
}

// starRound makes one update per distance, each d away from a common
// point along its own axis: the coordinate-wise median is that point, so
// each update's distance to the robust centre is exactly its d.
func starRound(ds ...float64) []Update {
	ups := make([]Update, len(ds))
	for i, d := range ds {
		delta := make([]float64, len(ds))
		for j := range delta {
			delta[j] = 10
		}
		delta[i] += d
		ups[i] = Update{Delta: delta, Samples: 10}
	}
	return ups
}

// The limits adapt to a round whose honest distances spread widely (as
// non-IID vaults' do), but only with five updates or more: under five
// the floors alone apply, under three nothing is flagged; a negative
// Spread keeps the floors whatever the round.
func TestDetectorAdaptsOnlyWithEnoughUpdates(t *testing.T) {
	// 40 distances around 1: a quarter in [0, 0.5], half in [0.5, 1.5], a
	// quarter in [1.5, 3.2]. Median 1, MAD 0.5: the distance limit is
	// 1 + 3·1.4826·0.5 ≈ 3.22.
	var wide []float64
	for i := range 40 {
		q := (float64(i) + 0.5) / 40
		switch {
		case q < 0.25:
			wide = append(wide, 2*q)
		case q < 0.75:
			wide = append(wide, 0.5+2*(q-0.25))
		default:
			wide = append(wide, 1.5+1.7*(q-0.75)/0.25)
		}
	}
	for _, c := range []struct {
		name      string
		ds        []float64
		det       Detector
		limit     float64 // the distance limit
		flagsLast bool
	}{
		{"wide round", wide, Detector{}, 3.2, false},
		{"wide round, fixed limits", wide, Detector{Spread: -1}, 3, true},
		{"five updates", []float64{0.3, 0.5, 1, 1.5, 3.1}, Detector{}, 3.2, false},
		{"four updates", []float64{0.3, 0.5, 1.5, 3.1}, Detector{}, 3, true},
		{"two updates", []float64{1, 30}, Detector{}, 3, false},
	} {
		scores, err := c.det.Score(starRound(c.ds...))
		if err != nil {
			t.Fatal(err)
		}
		if lim := scores[0].Limits.DistRatio; math.Abs(lim-c.limit) > 0.05 {
			t.Errorf("%s: distance limit %g, want about %g", c.name, lim, c.limit)
		}
		for i, s := range scores {
			last := i == len(scores)-1
			if s.Flagged != (last && c.flagsLast) {
				t.Errorf("%s: update %d at distance ratio %.2f: flagged %v", c.name, i, s.DistRatio, s.Flagged)
			}
		}
	}
}

// FuzzDetectorScore scores rounds of arbitrary finite updates: nothing
// panics, the limits never fall below the floors, and an update within
// every floor is never flagged.
func FuzzDetectorScore(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, uint8(4), 3.0)
	f.Add([]byte{0, 0, 0, 0, 0, 0, 255, 255, 255}, uint8(3), -1.0)
	f.Fuzz(func(t *testing.T, raw []byte, dim uint8, spread float64) {
		d := int(dim%8) + 1
		if len(raw) < d || math.IsNaN(spread) || math.IsInf(spread, 0) {
			return
		}
		var ups []Update
		for lo := 0; lo+d <= len(raw) && len(ups) < 50; lo += d {
			delta := make([]float64, d)
			for j := range delta {
				delta[j] = float64(int8(raw[lo+j])) * math.Pow(10, float64(int8(raw[lo+j])%4))
			}
			ups = append(ups, Update{Delta: delta, Samples: 1})
		}
		scores, err := Detector{Spread: spread}.Score(ups)
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range scores {
			if s.Limits.DistRatio < 3 || s.Limits.NormRatio < 3 || s.Limits.Cosine > 0 {
				t.Fatalf("limits below the floors: %+v", s.Limits)
			}
			if s.Flagged && (len(ups) < 3 || (s.DistRatio <= 3 && s.NormRatio <= 3 && s.Cosine >= 0)) {
				t.Fatalf("update %d of %d flagged within the floors: %+v", i, len(ups), s)
			}
		}
	})
}
