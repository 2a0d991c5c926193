package compute

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/trove-project/trove/dataset"
)

// Output policy kinds: what may leave a job.
const (
	// PolicyRelease: the result goes to the requester once its receipt is
	// durable.
	PolicyRelease = "release"
	// PolicyReview: the result is held until the owner releases or
	// withholds it.
	PolicyReview = "review"
	// PolicyDP: only a differentially private result leaves: a built-in
	// algorithm's statistics, clipped and noised for (Epsilon, Delta).
	PolicyDP = "dp"
)

// OutputPolicy says what may leave a job. The vault maps the consent's
// terms (and the owner's settings for the dataset) to it.
type OutputPolicy struct {
	// Kind is PolicyRelease, PolicyReview or PolicyDP.
	Kind string
	// Epsilon and Delta are the privacy loss one job may spend under
	// PolicyDP. Delta 0 asks for pure ε-DP (Laplace noise); Delta > 0 for
	// Gaussian noise.
	Epsilon, Delta float64
}

// Limits on a DP job's parameters.
const (
	MaxEpsilon = 10   // per job; more is no privacy to speak of
	MaxDelta   = 1e-3 // per job; δ must be far below 1/n
)

// ErrPolicy: an output policy is malformed or cannot be honoured for this
// algorithm.
var ErrPolicy = errors.New("output policy cannot be honoured")

// Validate checks a policy: a known kind and, for PolicyDP, 0 < Epsilon ≤
// MaxEpsilon and 0 ≤ Delta ≤ MaxDelta; other kinds carry neither.
func (p OutputPolicy) Validate() error {
	switch p.Kind {
	case PolicyRelease, PolicyReview:
		if p.Epsilon != 0 || p.Delta != 0 {
			return fmt.Errorf("%w: %s carries no epsilon or delta", ErrPolicy, p.Kind)
		}
		return nil
	case PolicyDP:
		if !(p.Epsilon > 0 && p.Epsilon <= MaxEpsilon) {
			return fmt.Errorf("%w: epsilon %g is not in (0, %d]", ErrPolicy, p.Epsilon, MaxEpsilon)
		}
		if !(p.Delta >= 0 && p.Delta <= MaxDelta) {
			return fmt.Errorf("%w: delta %g is not in [0, %g]", ErrPolicy, p.Delta, MaxDelta)
		}
		return nil
	}
	return fmt.Errorf("%w: unknown kind %q", ErrPolicy, p.Kind)
}

// Rho returns what a DP job with this policy costs in zero-concentrated DP
// (ρ-zCDP, Bun & Steinke 2016), the unit a dataset's accountant adds up:
// ε²/2 for pure ε-DP (Laplace), and for (ε, δ) the largest ρ whose
// conversion back gives at most ε at δ (Gaussian).
func (p OutputPolicy) Rho() float64 {
	if p.Delta == 0 {
		return p.Epsilon * p.Epsilon / 2
	}
	return RhoFor(p.Epsilon, p.Delta)
}

// RhoFor returns the ρ such that ρ-zCDP implies exactly (ε, δ)-DP under
// EpsilonOf: the root of ε = ρ + 2√(ρ ln(1/δ)).
func RhoFor(epsilon, delta float64) float64 {
	l := math.Log(1 / delta)
	r := math.Sqrt(l+epsilon) - math.Sqrt(l)
	return r * r
}

// EpsilonOf converts ρ-zCDP to (ε, δ)-DP: ε = ρ + 2√(ρ ln(1/δ))
// (Bun & Steinke 2016, Proposition 1.3).
func EpsilonOf(rho, delta float64) float64 {
	if rho <= 0 {
		return 0
	}
	return rho + 2*math.Sqrt(rho*math.Log(1/delta))
}

// Noise draws the noise of one DP query of the given sensitivity (L1 for
// Laplace, L2 for Gaussian, equal for the queries here) that spends share
// of a job's budget. Scale is the Laplace b or the Gaussian σ it used.
type Noise struct {
	rng       *rand.Rand
	gaussian  bool
	epsilon   float64 // per query, Laplace
	rho       float64 // per query, Gaussian
	Mechanism string  // "laplace" or "gaussian"
}

// NewNoise splits policy's budget evenly over queries queries: by basic
// composition of ε for Laplace, of ρ for Gaussian. rng must be secret: a
// requester who knew it could subtract the noise.
func NewNoise(policy OutputPolicy, queries int, rng *rand.Rand) *Noise {
	n := &Noise{rng: rng, gaussian: policy.Delta > 0}
	if n.gaussian {
		n.rho, n.Mechanism = policy.Rho()/float64(queries), "gaussian"
	} else {
		n.epsilon, n.Mechanism = policy.Epsilon/float64(queries), "laplace"
	}
	return n
}

// Scale returns the noise scale for a query of the given sensitivity: the
// Laplace b = Δ/ε or the Gaussian σ = Δ/√(2ρ).
func (n *Noise) Scale(sensitivity float64) float64 {
	if n.gaussian {
		return sensitivity / math.Sqrt(2*n.rho)
	}
	return sensitivity / n.epsilon
}

// Add returns x plus noise for a query of the given sensitivity.
func (n *Noise) Add(x, sensitivity float64) float64 {
	s := n.Scale(sensitivity)
	if n.gaussian {
		return x + s*n.rng.NormFloat64()
	}
	return x + s*laplace(n.rng)
}

// laplace draws from the standard Laplace distribution (scale 1): an
// exponential with a random sign.
func laplace(rng *rand.Rand) float64 {
	e := rng.ExpFloat64()
	if rng.IntN(2) == 0 {
		return -e
	}
	return e
}

// DPParams are the parameters of a built-in algorithm run under PolicyDP:
// for each numeric column to be released, the bounds its values are
// clipped to. A numeric column without bounds is left out of the result;
// the bounds are public (the requester declares them), so they cost no
// privacy.
type DPParams struct {
	Bounds map[string][2]float64 `json:"bounds"`
}

// maxDPBound bounds the magnitude of declared bounds, so that noise scales
// stay finite.
const maxDPBound = 1e15

func parseDPParams(raw json.RawMessage, t *dataset.Table) (DPParams, error) {
	var p DPParams
	if err := decodeParams(raw, &p); err != nil {
		return p, err
	}
	for name, b := range p.Bounds {
		c := t.Column(name)
		if c == nil {
			return p, fmt.Errorf("%w: dp params: bounds for %q, which is not a column", ErrBadParams, name)
		}
		if c.Kind == dataset.Categorical {
			return p, fmt.Errorf("%w: dp params: bounds for categorical column %q", ErrBadParams, name)
		}
		if !(b[0] < b[1]) || math.Abs(b[0]) > maxDPBound || math.Abs(b[1]) > maxDPBound {
			return p, fmt.Errorf("%w: dp params: bounds of %q must be finite, lo < hi, |bound| <= %g", ErrBadParams, name, maxDPBound)
		}
	}
	return p, nil
}

// dpStatsResult is what builtin:stats@1 releases under PolicyDP: a noisy
// row count, and per column with bounds a noisy clipped sum and the mean
// derived from them, and per categorical column noisy level counts.
type dpStatsResult struct {
	Algorithm string          `json:"algorithm"`
	DP        dpInfo          `json:"dp"`
	Rows      number          `json:"rows"`
	Columns   []dpColumnStats `json:"columns"`
}

type dpInfo struct {
	Epsilon   float64 `json:"epsilon"`
	Delta     float64 `json:"delta"`
	Mechanism string  `json:"mechanism"`
	// RowsScale is the scale (Laplace b or Gaussian σ) of the noise on the
	// row count and on each level count.
	RowsScale float64 `json:"rows_scale"`
}

type dpColumnStats struct {
	Name   string            `json:"name"`
	Kind   dataset.Kind      `json:"kind"`
	Bounds *[2]float64       `json:"bounds,omitempty"`
	Sum    *number           `json:"sum,omitempty"`
	Mean   *number           `json:"mean,omitempty"`
	Scale  float64           `json:"sum_scale,omitempty"` // scale of the noise on Sum
	Levels map[string]number `json:"levels,omitempty"`
}

// RunBuiltinDP runs the built-in algorithm id under a PolicyDP policy and
// returns only its differentially private result. Under add/remove-one-row
// neighbours: the row count and each level count have sensitivity 1, a
// sum clipped to [lo, hi] has sensitivity max(|lo|, |hi|). The budget is
// split evenly over the queries. builtin:logreg-train@1 runs DP-SGD with
// one row as the privacy unit (see LogRegTrainID). Other built-ins have no
// DP form and give ErrPolicy. rng must be secret.
func RunBuiltinDP(ctx context.Context, id string, in Input, policy OutputPolicy, rng *rand.Rand) (*Output, error) {
	if err := policy.Validate(); err != nil || policy.Kind != PolicyDP {
		return nil, fmt.Errorf("run job %s: %w", in.JobID, errors.Join(ErrPolicy, err))
	}
	if in.Table == nil {
		return nil, fmt.Errorf("run job %s: %s: no table: %w", in.JobID, id, ErrBadInput)
	}
	if !HasDP(id) {
		return nil, fmt.Errorf("run job %s: %s has no differentially private form: %w", in.JobID, id, ErrPolicy)
	}
	if err := in.Table.Validate(); err != nil {
		return nil, fmt.Errorf("run job %s: %w: %w", in.JobID, ErrBadInput, err)
	}
	res, err := dpStats(ctx, id, in, policy, rng)
	if err != nil {
		return nil, fmt.Errorf("run job %s: %s: %w", in.JobID, id, err)
	}
	return &Output{Result: res}, nil
}

// HasDP reports whether the built-in algorithm id can run under PolicyDP.
func HasDP(id string) bool { return id == StatsID || id == HistogramID || id == LogRegTrainID }

func dpStats(ctx context.Context, id string, in Input, policy OutputPolicy, rng *rand.Rand) (json.RawMessage, error) {
	switch id {
	case HistogramID:
		return dpHistogram(ctx, in, policy, rng)
	case LogRegTrainID:
		return logregTrain(ctx, in, &dpTraining{policy: policy, rng: rng})
	}
	t := in.Table
	params, err := parseDPParams(in.Params, t)
	if err != nil {
		return nil, err
	}
	queries := 1 // the row count
	for i := range t.Columns {
		c := &t.Columns[i]
		if _, ok := params.Bounds[c.Name]; ok || c.Kind == dataset.Categorical {
			queries++
		}
	}
	noise := NewNoise(policy, queries, rng)
	res := dpStatsResult{Algorithm: StatsID, DP: dpInfo{Epsilon: policy.Epsilon, Delta: policy.Delta, Mechanism: noise.Mechanism, RowsScale: noise.Scale(1)}}
	rows := noise.Add(float64(t.Rows), 1)
	res.Rows = number(rows)
	for i := range t.Columns {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		c := &t.Columns[i]
		cs := dpColumnStats{Name: c.Name, Kind: c.Kind}
		if c.Kind == dataset.Categorical {
			counts := make([]float64, len(c.Levels))
			for _, code := range c.Codes {
				counts[code]++
			}
			cs.Levels = make(map[string]number, len(c.Levels))
			for j, l := range c.Levels {
				cs.Levels[l] = number(noise.Add(counts[j], 1))
			}
		} else if b, ok := params.Bounds[c.Name]; ok {
			// Missing values count as lo: each row adds one clipped value, so
			// that a row's presence moves the sum by at most max(|lo|, |hi|).
			var sum float64
			for j := range c.Len() {
				v := c.Float64(j)
				if math.IsNaN(v) {
					v = b[0]
				}
				sum += min(max(v, b[0]), b[1])
			}
			sens := max(math.Abs(b[0]), math.Abs(b[1]))
			noisy := noise.Add(sum, sens)
			cs.Bounds, cs.Sum, cs.Scale = &b, num(noisy), noise.Scale(sens)
			mean := min(max(noisy/max(rows, 1), b[0]), b[1]) // post-processing: free
			cs.Mean = num(mean)
		} else {
			continue
		}
		res.Columns = append(res.Columns, cs)
	}
	b, err := json.Marshal(res)
	if err != nil {
		return nil, fmt.Errorf("encode result: %w", err)
	}
	return b, nil
}
