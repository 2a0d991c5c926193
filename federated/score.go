package federated

import (
	"math"
	"sort"
)

// Score describes how far one update stands from the round's robust
// centre (the coordinate-wise median of all updates).
type Score struct {
	Distance  float64 `json:"distance"`   // Euclidean distance to the robust centre
	NormRatio float64 `json:"norm_ratio"` // its norm over the median norm
	Cosine    float64 `json:"cosine"`     // cosine to the median direction
	DistRatio float64 `json:"dist_ratio"` // Distance over the median distance
	Z         float64 `json:"z"`          // robust z-score of Distance (median and MAD), for reports
	Flagged   bool    `json:"flagged"`
	Why       string  `json:"why,omitempty"`
}

// Detector flags updates that look poisoned. The zero value uses the
// defaults.
type Detector struct {
	MaxDistRatio float64 // a distance this many times the median distance flags; default 2
	MaxNormRatio float64 // a norm this many times the median flags; default 3
	MinCosine    float64 // a cosine to the median direction below this flags; default 0
}

func (d Detector) withDefaults() Detector {
	if d.MaxDistRatio == 0 {
		d.MaxDistRatio = 2
	}
	if d.MaxNormRatio == 0 {
		d.MaxNormRatio = 3
	}
	return d
}

// Score scores every update of a round. With fewer than three updates
// there is no majority to compare with, and nothing is flagged.
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
	for i, u := range updates {
		s := Score{Distance: dists[i]}
		if medNorm > 0 {
			s.NormRatio = norms[i] / medNorm
		}
		if centreNorm > 0 && norms[i] > 0 {
			s.Cosine = dot(u.Delta, centre) / (norms[i] * centreNorm)
		}
		// 1.4826·MAD estimates the standard deviation of normal data; the
		// floor keeps identical honest updates from dividing by zero.
		spread := math.Max(1.4826*mad, 1e-9*math.Max(medDist, 1))
		s.Z = (dists[i] - medDist) / spread
		if medDist > 0 {
			s.DistRatio = dists[i] / medDist
		}
		// Distances to the centre of honest, high-dimensional updates
		// concentrate tightly, so a z-score flags honest stragglers; a
		// ratio to the median distance does not.
		if n >= 3 {
			switch {
			case s.DistRatio > d.MaxDistRatio:
				s.Flagged, s.Why = true, "far from the robust centre"
			case s.NormRatio > d.MaxNormRatio:
				s.Flagged, s.Why = true, "norm out of proportion"
			case centreNorm > 0 && s.Cosine < d.MinCosine:
				s.Flagged, s.Why = true, "points against the majority"
			}
		}
		scores[i] = s
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
