package federated

import (
	"math"
	"sort"
)

// Score describes how far one update stands from the round's robust
// centre (the coordinate-wise median of all updates), and the limits the
// round held it to.
type Score struct {
	Distance  float64 `json:"distance"`   // Euclidean distance to the robust centre
	NormRatio float64 `json:"norm_ratio"` // its norm over the median norm
	Cosine    float64 `json:"cosine"`     // cosine to the median direction
	DistRatio float64 `json:"dist_ratio"` // Distance over the median distance
	Z         float64 `json:"z"`          // robust z-score of Distance (median and MAD), for reports
	Limits    Limits  `json:"limits"`     // what flags, this round
	Flagged   bool    `json:"flagged"`
	Why       string  `json:"why,omitempty"`
}

// Limits are what flags an update in one round: a distance ratio or a
// norm ratio above its limit, or a cosine below its limit.
type Limits struct {
	DistRatio float64 `json:"dist_ratio"`
	NormRatio float64 `json:"norm_ratio"`
	Cosine    float64 `json:"cosine"`
}

// Detector flags updates that look poisoned. The zero value uses the
// defaults.
//
// Its limits adapt to the round: an update is flagged when its distance
// ratio or its norm ratio is more than Spread robust deviations (1.4826
// times the median absolute deviation, which estimates the standard
// deviation of normal data) above the round's median ratio, or its cosine
// more than Spread robust deviations below the median cosine. Honest
// updates spread out when vaults hold few rows or differ in their data
// (non-IID), and fixed limits then flag honest vaults; a poisoned
// minority stands out from the spread of the honest majority either way.
// The fixed limits are floors: an update within MaxDistRatio, MaxNormRatio
// and MinCosine is never flagged, however tight the round. Under five
// updates the spread says little, and the fixed limits alone apply; under
// three there is no majority, and nothing is flagged.
type Detector struct {
	MaxDistRatio float64 // a distance up to this many times the median distance never flags; default 3
	MaxNormRatio float64 // a norm up to this many times the median norm never flags; default 3
	MinCosine    float64 // a cosine to the median direction at or above this never flags; default 0
	// Spread is how many robust deviations from the round's median flag;
	// default 3; negative: the fixed limits alone.
	Spread float64
}

// DefaultSpread is the Detector's default Spread.
const DefaultSpread = 3

// Fewest updates a round needs for the detector to flag any, and to
// adapt its limits to their spread.
const (
	minFlagUpdates  = 3
	minAdaptUpdates = 5
)

func (d Detector) withDefaults() Detector {
	if d.MaxDistRatio == 0 {
		d.MaxDistRatio = 3
	}
	if d.MaxNormRatio == 0 {
		d.MaxNormRatio = 3
	}
	if d.Spread == 0 {
		d.Spread = DefaultSpread
	}
	return d
}

// robustSD is the robust estimate of a standard deviation from a median
// absolute deviation.
const robustSD = 1.4826

// Score scores every update of a round.
func (d Detector) Score(updates []Update) ([]Score, error) {
	if _, err := checkUpdates(updates); err != nil {
		return nil, err
	}
	d = d.withDefaults()
	centre, _, err := Median{}.Aggregate(updates)
	if err != nil {
		return nil, err
	}
	n := len(updates)
	scores := make([]Score, n)
	dists := make([]float64, n)
	norms := make([]float64, n)
	for i, u := range updates {
		dists[i] = math.Sqrt(sqDist(u.Delta, centre))
		norms[i] = norm(u.Delta)
	}
	medDist, mad := medianMAD(dists)
	medNorm, _ := medianMAD(norms)
	centreNorm := norm(centre)
	distRatios := make([]float64, n)
	normRatios := make([]float64, n)
	cosines := make([]float64, n)
	for i, u := range updates {
		s := &scores[i]
		s.Distance = dists[i]
		if medNorm > 0 {
			s.NormRatio = norms[i] / medNorm
		}
		if centreNorm > 0 && norms[i] > 0 {
			s.Cosine = dot(u.Delta, centre) / (norms[i] * centreNorm)
		}
		// The floor keeps identical honest updates from dividing by zero.
		spread := math.Max(robustSD*mad, 1e-9*math.Max(medDist, 1))
		s.Z = (dists[i] - medDist) / spread
		if medDist > 0 {
			s.DistRatio = dists[i] / medDist
		}
		distRatios[i], normRatios[i], cosines[i] = s.DistRatio, s.NormRatio, s.Cosine
	}
	lim := Limits{DistRatio: d.MaxDistRatio, NormRatio: d.MaxNormRatio, Cosine: d.MinCosine}
	if d.Spread > 0 && n >= minAdaptUpdates {
		med, mad := medianMAD(distRatios)
		lim.DistRatio = math.Max(lim.DistRatio, med+d.Spread*robustSD*mad)
		med, mad = medianMAD(normRatios)
		lim.NormRatio = math.Max(lim.NormRatio, med+d.Spread*robustSD*mad)
		med, mad = medianMAD(cosines)
		lim.Cosine = math.Min(lim.Cosine, med-d.Spread*robustSD*mad)
	}
	for i := range scores {
		s := &scores[i]
		s.Limits = lim
		if n < minFlagUpdates {
			continue
		}
		switch {
		case s.DistRatio > lim.DistRatio:
			s.Flagged, s.Why = true, "far from the robust centre"
		case s.NormRatio > lim.NormRatio:
			s.Flagged, s.Why = true, "norm out of proportion"
		case centreNorm > 0 && s.Cosine < lim.Cosine:
			s.Flagged, s.Why = true, "points against the majority"
		}
	}
	return scores, nil
}

// medianMAD returns the median of xs and the median absolute deviation.
func medianMAD(xs []float64) (med, mad float64) {
	c := append([]float64(nil), xs...)
	med = median(c)
	for i, x := range xs {
		c[i] = math.Abs(x - med)
	}
	sort.Float64s(c)
	return med, median(c)
}

func norm(a []float64) float64 { return math.Sqrt(dot(a, a)) }

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}
