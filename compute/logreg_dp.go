package compute

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
)

// countShare is the entry, as a fraction of the clip, that every row adds
// to a DP-SGD step's count beside its clipped gradient: the step's noisy
// sums then also give the number of rows, with no budget of its own. One
// row moves a step's sums by at most clip·√(1 + countShare²) in L2 norm.
const countShare = 0.5

// dpTraining is the privacy of a DP training job: its policy and the
// secret source of its noise.
type dpTraining struct {
	policy OutputPolicy
	rng    *rand.Rand
}

// dpTrainInfo is what a DP training job says about its privacy: per row
// of the vault (add/remove neighbours), T steps of the Gaussian mechanism
// of sensitivity Sensitivity and σ = NoiseMultiplier·Sensitivity, which
// together cost Rho (zCDP): T/(2z²).
type dpTrainInfo struct {
	Epsilon         float64 `json:"epsilon"`
	Delta           float64 `json:"delta"`
	Mechanism       string  `json:"mechanism"`
	Unit            string  `json:"unit"` // "row": the privacy unit is one row of the vault
	Rho             float64 `json:"rho"`
	Steps           int     `json:"steps"`
	NoiseMultiplier float64 `json:"noise_multiplier"`
	Sensitivity     float64 `json:"sensitivity"`
	// RowsScale is the standard deviation of the noise on the released
	// sample count, in rows.
	RowsScale float64 `json:"rows_scale"`
	Clip      float64 `json:"clip"`
}

// dpSteps is the noise of a DP-SGD job of steps full-batch steps that
// spends rho in total.
type dpSteps struct {
	steps       int
	z           float64 // noise multiplier
	sensitivity float64
	sigma       float64 // per coordinate of each step's sums
}

func newDPSteps(rho, clip float64, steps int) dpSteps {
	z := math.Sqrt(float64(steps) / (2 * rho))
	sens := clip * math.Sqrt(1+countShare*countShare)
	return dpSteps{steps: steps, z: z, sensitivity: sens, sigma: z * sens}
}

// countSD is the standard deviation of one step's noisy count, in rows.
func (s dpSteps) countSD(clip float64) float64 { return s.sigma / (clip * countShare) }

// stepSums returns one step's sums at w: each complete row's gradient of
// the cross-entropy, clipped to clip in L2 norm, summed, followed by the
// count entry (clip·countShare per row). The L2 penalty is left out: it
// reads no row.
func (data *logregData) stepSums(w []float64, clip float64) []float64 {
	sums := make([]float64, len(w)+1)
	p := make([]float64, data.k)
	e := make([]float64, data.rows)
	stride := data.d + 1
	for i := range data.y {
		data.probs(w, i, p)
		x := data.x[i*data.d : (i+1)*data.d]
		// Row i's gradient is the outer product of the errors e with
		// (x, 1); its norm is |e|·|(x, 1)|.
		en, xn := 0.0, 1.0
		for r := range data.rows {
			c := r
			if data.rows == 1 {
				c = 1
			}
			e[r] = p[c]
			if data.y[i] == c {
				e[r]--
			}
			en += e[r] * e[r]
		}
		for _, v := range x {
			xn += v * v
		}
		norm := math.Sqrt(en * xn)
		scale := 1.0
		if norm > clip {
			scale = clip / norm
		}
		for r := range data.rows {
			g := sums[r*stride : (r+1)*stride]
			er := e[r] * scale
			for j, v := range x {
				g[j] += er * v
			}
			g[data.d] += er
		}
	}
	sums[len(w)] = float64(len(data.y)) * clip * countShare
	return sums
}

// trainDP runs DP-SGD from p.Weights: noise.steps full-batch steps, each
// adding Gaussian noise to its sums (stepSums) and moving the weights by
// the learning rate times the noisy gradient sum over the noisy count, or
// over the count noise's deviation when that is larger (post-processing,
// free). It returns the weights and the mean of the steps' noisy counts,
// the sample count it releases.
func (data *logregData) trainDP(ctx context.Context, p logregParams, noise dpSteps, rng *rand.Rand) ([]float64, float64, error) {
	w := append([]float64(nil), p.Weights...)
	var counted float64
	for range noise.steps {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		sums := data.stepSums(w, p.Clip)
		for j := range sums {
			sums[j] += noise.sigma * rng.NormFloat64()
		}
		n := sums[len(w)] / (p.Clip * countShare)
		counted += n
		// Below the standard deviation of its own noise a noisy count says
		// little, and dividing by it would blow the step up: the
		// denominator is at least that deviation, in rows (it depends on
		// the budget alone, so this is post-processing too).
		n = math.Max(n, noise.countSD(p.Clip))
		for j := range w {
			w[j] -= p.LearningRate * (sums[j]/n + p.L2*w[j])
		}
	}
	return w, counted / float64(noise.steps), nil
}

// dpTrainCheck refuses what DP training cannot honour: it needs Gaussian
// noise, a clip, and full-batch steps.
func dpTrainCheck(p logregParams, policy OutputPolicy) error {
	switch {
	case policy.Delta == 0:
		return fmt.Errorf("%w: training under dp needs Gaussian noise: delta > 0", ErrPolicy)
	case !(p.Clip > 0):
		return fmt.Errorf("%w: clip must be set, in (0, 1e6], under the dp policy", ErrBadParams)
	case p.Optimizer != "sgd":
		return fmt.Errorf("%w: under the dp policy training runs DP-SGD; optimizer %q has no private form", ErrBadParams, p.Optimizer)
	}
	return nil
}
