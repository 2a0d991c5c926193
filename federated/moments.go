package federated

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"github.com/trove-project/trove/compute"
)

// Robust pooling of the vaults' feature moments (see poolMoments).
const (
	// MomentsSpread is how many robust spreads a vault's mean or deviation
	// of a feature may stand from the vaults' median before its moments
	// are left out.
	MomentsSpread = 5
	// MomentsWeightCap is the most rows one vault counts for in the pooled
	// moments, as a multiple of the vaults' median row count.
	MomentsWeightCap = 4
	// MomentsInfluence is how far one vault out of line must move the
	// pooled mean or deviation of a feature, in the vaults' median
	// deviation of it, to be left out.
	MomentsInfluence = 0.25
)

// vaultMoments is what one vault reported: per feature the sum and the
// sum of squares of its values, over Samples rows (at least one; every
// entry finite).
type vaultMoments struct {
	Samples     int
	Sums, Sumsq []float64
}

// parseMomentsResult reads a vault's moments: per feature a sum and a sum
// of squares, each finite and below 1e300 in magnitude, over at least one
// row, over the features want (any when want is nil). What is wrong is
// said as a reason for the round file.
func parseMomentsResult(b []byte, want []string) (vaultMoments, []string, string) {
	var m struct {
		Features []string  `json:"features"`
		Samples  int       `json:"samples"`
		Sums     []float64 `json:"sums"`
		Sumsq    []float64 `json:"sumsq"`
	}
	if len(b) > MaxResultBytes {
		return vaultMoments{}, nil, "moments_malformed"
	}
	switch err := json.Unmarshal(b, &m); {
	case err != nil || len(m.Features) == 0 || len(m.Features) > compute.MaxFeatures ||
		len(m.Sums) != len(m.Features) || len(m.Sumsq) != len(m.Features) || m.Samples < 1:
		return vaultMoments{}, nil, "moments_malformed"
	case !allFinite(m.Sums) || !allFinite(m.Sumsq) || slices.ContainsFunc(m.Sumsq, func(x float64) bool { return x < 0 }):
		return vaultMoments{}, nil, "moments_out_of_range"
	case want != nil && !equalStrings(want, m.Features):
		return vaultMoments{}, nil, "other_features"
	}
	return vaultMoments{Samples: m.Samples, Sums: m.Sums, Sumsq: m.Sumsq}, m.Features, ""
}

// momentsVerdict is what poolMoments made of one vault's moments.
type momentsVerdict struct {
	Flagged bool
	Feature int    // flagged: the feature out of line
	Why     string // flagged: what was out of line
	Weight  float64
	Capped  bool
}

// poolMoments pools the vaults' moments into a mean and a deviation per
// feature, robust to vaults that lie about them.
//
// No vault counts for more than MomentsWeightCap times the median row
// count: a larger count is capped and its sums scaled down with it. With
// three vaults or more, a vault whose mean or deviation of any feature
// stands more than MomentsSpread spreads from the vaults' median is left
// out, if that alone would move the pool by more than MomentsInfluence of
// the feature's median deviation (its weight share times its distance
// from the median). The spread is 1.4826 times the vaults' median absolute
// deviation, but never less than the vaults' median deviation of the
// feature, so that honest vaults whose data differ by class (non-IID)
// stay in; the influence test keeps the honest small vault that happens
// to hold a feature's extreme row, whose pull on the pool is slight.
//
// The kept vaults are pooled exactly: with none left out or capped, the
// result is the plain pooled mean and deviation. A deviation of 0 (or not
// finite) becomes 1.
func poolMoments(ms []vaultMoments) (center, scale []float64, verdicts []momentsVerdict, err error) {
	if len(ms) == 0 {
		return nil, nil, nil, fmt.Errorf("no moments to pool")
	}
	d := len(ms[0].Sums)
	means := make([][]float64, d) // per feature, per vault
	sds := make([][]float64, d)
	counts := make([]float64, len(ms))
	for i, m := range ms {
		if len(m.Sums) != d || len(m.Sumsq) != d || m.Samples < 1 {
			return nil, nil, nil, fmt.Errorf("moments of vault %d are malformed", i)
		}
		n := float64(m.Samples)
		counts[i] = n
		for j := range d {
			mean := m.Sums[j] / n
			means[j] = append(means[j], mean)
			sds[j] = append(sds[j], math.Sqrt(math.Max(0, m.Sumsq[j]/n-mean*mean)))
		}
	}
	medCount, _ := medianMAD(counts)
	capCount := MomentsWeightCap * medCount
	verdicts = make([]momentsVerdict, len(ms))
	var total float64
	for i, n := range counts {
		verdicts[i].Weight = n
		if n > capCount {
			verdicts[i].Weight, verdicts[i].Capped = capCount, true
		}
		total += verdicts[i].Weight
	}
	if len(ms) >= minFlagUpdates {
		for j := range d {
			medSD, _ := medianMAD(sds[j])
			for _, q := range []struct {
				xs  []float64
				why string
			}{{means[j], "mean out of line"}, {sds[j], "deviation out of line"}} {
				med, mad := medianMAD(q.xs)
				limit := MomentsSpread * math.Max(robustSD*mad, medSD)
				for i, x := range q.xs {
					v := &verdicts[i]
					// Written so that a NaN or an overflow flags too.
					outOfLine := !(math.Abs(x-med) <= limit)
					moves := !(v.Weight/total*math.Abs(x-med) <= MomentsInfluence*medSD)
					if !v.Flagged && outOfLine && moves {
						v.Flagged, v.Feature, v.Why = true, j, q.why
					}
				}
			}
		}
	}
	sums := make([]float64, d)
	sumsq := make([]float64, d)
	var n float64
	for i, m := range ms {
		v := &verdicts[i]
		if v.Flagged {
			v.Weight, v.Capped = 0, false
			continue
		}
		f := 1.0 // exactly 1 unless capped, so honest vaults pool exactly
		if v.Capped {
			f = v.Weight / counts[i]
		}
		for j := range d {
			sums[j] += f * m.Sums[j]
			sumsq[j] += f * m.Sumsq[j]
		}
		n += v.Weight
	}
	center, scale = make([]float64, d), make([]float64, d)
	for j := range d {
		mean := sums[j] / n
		sd := math.Sqrt(math.Max(0, sumsq[j]/n-mean*mean))
		if !(sd > 1e-12) || math.IsInf(sd, 0) {
			sd = 1
		}
		center[j], scale[j] = mean, sd
	}
	return center, scale, verdicts, nil
}
