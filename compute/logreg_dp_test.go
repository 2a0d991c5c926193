package compute

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// logregDPResult is builtin:logreg-train@1's answer under dp.
type logregDPResult struct {
	Update  []float64
	Samples float64
	Loss    *float64
	DP      dpTrainInfo
}

func trainLogRegDP(t *testing.T, in Input, pol OutputPolicy, rng *rand.Rand) logregDPResult {
	t.Helper()
	out, err := RunBuiltinDP(context.Background(), LogRegTrainID, in, pol, rng)
	if err != nil {
		t.Fatal(err)
	}
	var res logregDPResult
	if err := json.Unmarshal(out.Result, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

// One row, however extreme, moves a DP-SGD step's gradient sums by at most
// the clip and its count by clip/2: by at most clip·√1.25 in all, the
// sensitivity the noise is calibrated to. Binary and multinomial, at zero
// and at random weights.
func TestLogRegDPStepSensitivity(t *testing.T) {
	const n, clip = 60, 0.7
	full := regressionTable(n + 1)
	// The extra row: features far out.
	full.Columns[0].Floats[n], full.Columns[1].Floats[n] = 1e6, -3e5
	rest := full.Take(seq(n))
	rng := rand.New(rand.NewPCG(5, 6))
	for _, target := range []string{`"target":"pos"`, `"target":"tri","classes":3`} {
		for trial := range 20 {
			params := `{` + target + `,"features":["a","b"]}`
			_, with, err := parseLogReg(Input{Table: full, Params: json.RawMessage(params)})
			if err != nil {
				t.Fatal(err)
			}
			_, without, err := parseLogReg(Input{Table: rest, Params: json.RawMessage(params)})
			if err != nil {
				t.Fatal(err)
			}
			w := make([]float64, with.rows*(with.d+1))
			if trial > 0 {
				for j := range w {
					w[j] = 3 * rng.NormFloat64()
				}
			}
			// Its label: the class w finds least likely, so its gradient
			// is as large as it gets.
			p := make([]float64, with.k)
			with.probs(w, n, p)
			for c := range p {
				if p[c] < p[with.y[n]] {
					with.y[n] = c
				}
			}
			a, b := with.stepSums(w, clip), without.stepSums(w, clip)
			var grad float64
			for j := range w {
				grad += (a[j] - b[j]) * (a[j] - b[j])
			}
			count := a[len(w)] - b[len(w)]
			if math.Sqrt(grad) > clip*(1+1e-12) || math.Abs(count-clip/2) > 1e-12 {
				t.Fatalf("%s trial %d: one row moved the gradient sums by %g and the count by %g (clip %g)", target, trial, math.Sqrt(grad), count, clip)
			}
			if math.Sqrt(grad) < clip*(1-1e-9) {
				t.Fatalf("%s trial %d: the extreme row moved the sums by only %g: its gradient was not summed", target, trial, math.Sqrt(grad))
			}
			if total := math.Sqrt(grad + count*count); total > newDPSteps(1, clip, 1).sensitivity*(1+1e-12) {
				t.Fatalf("%s: a row moved a step's sums by %g, over the sensitivity", target, total)
			}
		}
	}
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// The result says what the job spent: T steps of noise multiplier z cost
// exactly the policy's ρ = T/(2z²); and the noise has the σ it claims, on
// the count and on the gradient sums alike. With one step from fixed
// weights the noisy sums can be read back from the result: count =
// samples·clip/2, sums = −update·max(samples, z·√5)/learning_rate. The
// tolerance is five standard errors of the sample variance (√(2/n)·σ²).
func TestLogRegDPNoiseIsWhatTheResultClaims(t *testing.T) {
	tab := regressionTable(50)
	pol := OutputPolicy{Kind: PolicyDP, Epsilon: 0.8, Delta: 1e-5}
	for _, steps := range []int{1, 3, 7} {
		in := Input{JobID: "j", Table: tab, Params: json.RawMessage(`{"target":"pos","features":["a","b"],"clip":2,"learning_rate":0.5,"epochs":` + strconv.Itoa(steps) + `}`)}
		res := trainLogRegDP(t, in, pol, rand.New(rand.NewPCG(1, 1)))
		d := res.DP
		if d.Steps != steps || d.Unit != "row" || d.Mechanism != "gaussian" || d.Clip != 2 || d.Epsilon != 0.8 || d.Delta != 1e-5 || res.Loss != nil {
			t.Fatalf("%d steps: %+v (loss %v)", steps, d, res.Loss)
		}
		if math.Abs(float64(steps)/(2*d.NoiseMultiplier*d.NoiseMultiplier)-pol.Rho()) > 1e-12*pol.Rho() || d.Rho != pol.Rho() {
			t.Fatalf("%d steps of z %g spend ρ %g, the policy's is %g", steps, d.NoiseMultiplier, float64(steps)/(2*d.NoiseMultiplier*d.NoiseMultiplier), pol.Rho())
		}
		if math.Abs(d.Sensitivity-2*math.Sqrt(1.25)) > 1e-12 || math.Abs(d.RowsScale-d.NoiseMultiplier*math.Sqrt(5/float64(steps))) > 1e-9 {
			t.Fatalf("%d steps: sensitivity %g, rows scale %g", steps, d.Sensitivity, d.RowsScale)
		}
	}

	const runs = 3000
	in := Input{JobID: "j", Table: tab, Params: json.RawMessage(`{"target":"pos","features":["a","b"],"clip":2,"learning_rate":0.5,"weights":[0.3,-0.2,0.1]}`)}
	_, data, err := parseLogReg(in)
	if err != nil {
		t.Fatal(err)
	}
	exact := data.stepSums([]float64{0.3, -0.2, 0.1}, 2)
	rng := rand.New(rand.NewPCG(2, 3))
	sum := make([]float64, len(exact))
	sumSq := make([]float64, len(exact))
	var sigma float64
	for range runs {
		res := trainLogRegDP(t, in, pol, rng)
		sigma = res.DP.NoiseMultiplier * res.DP.Sensitivity
		noisy := make([]float64, len(exact))
		for j, u := range res.Update {
			noisy[j] = -u * math.Max(res.Samples, res.DP.NoiseMultiplier*math.Sqrt(5)) / 0.5
		}
		noisy[len(exact)-1] = res.Samples * 2 * countShare
		for j := range noisy {
			e := noisy[j] - exact[j]
			sum[j] += e
			sumSq[j] += e * e
		}
	}
	for j := range exact {
		mean := sum[j] / runs
		variance := sumSq[j]/runs - mean*mean
		if math.Abs(variance-sigma*sigma) > 5*math.Sqrt(2.0/runs)*sigma*sigma || math.Abs(mean) > 5*sigma/math.Sqrt(runs) {
			t.Errorf("coordinate %d: noise mean %g variance %g, want 0 and σ² = %g", j, mean, variance, sigma*sigma)
		}
	}
}

// DP training refuses what it cannot honour: no clip, lbfgs, moments, and
// pure ε (it needs Gaussian noise).
func TestLogRegDPRefuses(t *testing.T) {
	tab := regressionTable(40)
	pol := OutputPolicy{Kind: PolicyDP, Epsilon: 1, Delta: 1e-5}
	for _, bad := range []string{`{"target":"pos"}`, `{"target":"pos","clip":1,"optimizer":"lbfgs"}`, `{"target":"pos","clip":1,"moments":true}`} {
		_, err := RunBuiltinDP(context.Background(), LogRegTrainID, Input{JobID: "j", Table: tab, Params: json.RawMessage(bad)}, pol, rand.New(rand.NewPCG(1, 1)))
		if !errors.Is(err, ErrBadParams) {
			t.Errorf("%s under dp: %v, want ErrBadParams", bad, err)
		}
	}
	pol.Delta = 0
	in := Input{JobID: "j", Table: tab, Params: json.RawMessage(`{"target":"pos","clip":1}`)}
	if _, err := RunBuiltinDP(context.Background(), LogRegTrainID, in, pol, rand.New(rand.NewPCG(1, 1))); !errors.Is(err, ErrPolicy) {
		t.Fatalf("dp training with δ 0: %v, want ErrPolicy", err)
	}
}

// With a large budget DP-SGD learns what plain training learns: on a
// separable set the weights point along the true boundary 2a − 3b = 0.
func TestLogRegDPLearns(t *testing.T) {
	tab := regressionTable(2000)
	pol := OutputPolicy{Kind: PolicyDP, Epsilon: 10, Delta: 1e-5}
	in := Input{JobID: "j", Table: tab, Params: json.RawMessage(`{"target":"pos","features":["a","b"],"clip":1,"learning_rate":1,"epochs":20}`)}
	res := trainLogRegDP(t, in, pol, rand.New(rand.NewPCG(9, 9)))
	a, b := res.Update[0], res.Update[1]
	if !(a > 0 && b < 0) || math.Abs(math.Atan2(-b, a)-math.Atan2(3, 2)) > 0.3 {
		t.Fatalf("update %v does not point along (2, −3)", res.Update)
	}
	if math.Abs(res.Samples-2000) > 6*res.DP.RowsScale {
		t.Fatalf("samples %g of 2000 (σ %g)", res.Samples, res.DP.RowsScale)
	}
}
