package compute

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"

	"gonum.org/v1/gonum/optimize"

	"github.com/trove-project/trove/dataset"
)

// LogRegTrainID is the id of the built-in local training step of logistic
// regression, for federated training: given the global weights, it trains
// E local epochs over the vault's rows and returns the weight update (local
// minus global) and the number of samples.
//
// Params:
//
//	{"target": "diagnosis",    // required: a categorical column, or an integer one with labels 0..classes-1
//	 "classes": 2,             // for an integer target: the number of classes (2..100)
//	 "features": ["a", "b"],   // numeric columns; default every numeric column but the target
//	 "weights": [..],          // the global weights; default zeros (length: see below)
//	 "epochs": 1,              // 1..100
//	 "optimizer": "sgd",       // "sgd" (mini-batch) or "lbfgs" (full batch, one major iteration per epoch)
//	 "learning_rate": 0.1,     // sgd only, (0, 10]
//	 "batch_size": 32,         // sgd only, 1..65536
//	 "l2": 0,                  // L2 penalty, [0, 1e3]
//	 "clip": 1,                // under the dp policy: the L2 norm each row's gradient is clipped to, (0, 1e6]
//	 "center": [..],           // optional, with scale: each feature becomes (x − center)/scale before training
//	 "scale": [..],            // optional, with center: every entry > 0
//	 "moments": false}         // true: train nothing, return per-feature sums and sums of squares instead
//
// With 2 classes the model is binary (sigmoid): one row of weights. With K
// > 2 it is multinomial (softmax): K rows. Each row holds one weight per
// feature then the intercept, rows one after the other. Rows with a
// missing feature or label are left out. SGD shuffles rows with a source
// seeded from the job id, so a run can be replayed.
//
//	{"algorithm":"builtin:logreg-train@1","classes":["B","M"],"features":[..],
//	 "update":[..],"samples":N,"loss":..}
//
// Under the dp policy the step runs DP-SGD, with one row of the vault as
// the privacy unit (add/remove neighbours): each epoch is one full-batch
// step (batch_size does not apply; lbfgs is refused) in which every row's
// gradient is clipped to norm clip and a counting entry of clip/2 is added
// beside it, so one row moves a step's sums by at most clip·√1.25; the
// sums get Gaussian noise of σ = z·clip·√1.25 with z = √(T/(2ρ)), T the
// epochs and ρ the job's zCDP budget, so the T steps spend exactly ρ. The
// weights move by the noisy gradient sum over the noisy count, or over the
// count noise's standard deviation z·√5 rows when that is larger; the
// released sample count is the mean of the steps' noisy counts (no budget
// of its own). No loss is released. The policy needs δ > 0:
//
//	{"algorithm":"builtin:logreg-train@1","classes":[..],"features":[..],"update":[..],"samples":N̂,
//	 "dp":{"epsilon":..,"delta":..,"mechanism":"gaussian","unit":"row","rho":ρ,"steps":T,
//	       "noise_multiplier":z,"sensitivity":clip·√1.25,"rows_scale":σ(N̂),"clip":clip}}
//
// With "moments": true the step returns what a coordinator needs to
// standardise features without pooling raw data, over the same complete
// rows training would use:
//
//	{"algorithm":"builtin:logreg-train@1","features":[..],"samples":N,
//	 "sums":[..],"sumsq":[..]}
//
// Moments have no private form: under the dp policy they are refused.
const LogRegTrainID = "builtin:logreg-train@1"

type logregParams struct {
	Target       string    `json:"target"`
	Classes      int       `json:"classes"`
	Features     []string  `json:"features"`
	Weights      []float64 `json:"weights"`
	Epochs       int       `json:"epochs"`
	Optimizer    string    `json:"optimizer"`
	LearningRate float64   `json:"learning_rate"`
	BatchSize    int       `json:"batch_size"`
	L2           float64   `json:"l2"`
	Clip         float64   `json:"clip"`
	Center       []float64 `json:"center"`
	Scale        []float64 `json:"scale"`
	Moments      bool      `json:"moments"`
}

// logregData is the training set: x row-major with d features, labels in
// 0..k-1.
type logregData struct {
	x      []float64
	y      []int
	d, k   int
	rows   int // model rows: 1 when binary, k otherwise
	labels []string
	names  []string
}

func parseLogReg(in Input) (logregParams, *logregData, error) {
	p := logregParams{Epochs: 1, Optimizer: "sgd", LearningRate: 0.1, BatchSize: 32}
	if err := decodeParams(in.Params, &p); err != nil {
		return p, nil, err
	}
	switch {
	case p.Epochs < 1 || p.Epochs > 100:
		return p, nil, fmt.Errorf("%w: epochs %d is not in 1..100", ErrBadParams, p.Epochs)
	case p.Optimizer != "sgd" && p.Optimizer != "lbfgs":
		return p, nil, fmt.Errorf("%w: optimizer %q is not sgd or lbfgs", ErrBadParams, p.Optimizer)
	case !(p.LearningRate > 0 && p.LearningRate <= 10):
		return p, nil, fmt.Errorf("%w: learning_rate %g is not in (0, 10]", ErrBadParams, p.LearningRate)
	case p.BatchSize < 1 || p.BatchSize > 65536:
		return p, nil, fmt.Errorf("%w: batch_size %d is not in 1..65536", ErrBadParams, p.BatchSize)
	case !(p.L2 >= 0 && p.L2 <= 1e3):
		return p, nil, fmt.Errorf("%w: l2 %g is not in [0, 1000]", ErrBadParams, p.L2)
	case !(p.Clip >= 0 && p.Clip <= 1e6):
		return p, nil, fmt.Errorf("%w: clip %g is not in (0, 1e6]", ErrBadParams, p.Clip)
	}
	t := in.Table
	if err := t.Validate(); err != nil {
		return p, nil, fmt.Errorf("%w: %w", ErrBadInput, err)
	}
	tc, fc, err := featureColumns(t, p.Target, p.Features, true)
	if err != nil {
		return p, nil, err
	}
	data := &logregData{d: len(fc)}
	for _, c := range fc {
		data.names = append(data.names, c.Name)
	}
	if tc.Kind == dataset.Categorical {
		if p.Classes != 0 {
			return p, nil, fmt.Errorf("%w: classes is for an integer target; %q is categorical", ErrBadParams, tc.Name)
		}
		data.k, data.labels = len(tc.Levels), tc.Levels
	} else {
		if p.Classes < 2 || p.Classes > 100 {
			return p, nil, fmt.Errorf("%w: classes %d is not in 2..100", ErrBadParams, p.Classes)
		}
		data.k = p.Classes
		for i := range p.Classes {
			data.labels = append(data.labels, strconv.Itoa(i))
		}
	}
	if data.k < 2 || data.k > 100 {
		return p, nil, fmt.Errorf("%w: the target has %d classes, want 2..100", ErrBadParams, data.k)
	}
	data.rows = data.k
	if data.k == 2 {
		data.rows = 1
	}
	m := data.rows * (data.d + 1)
	if p.Weights == nil {
		p.Weights = make([]float64, m)
	}
	if len(p.Weights) != m {
		return p, nil, fmt.Errorf("%w: %d weights, want %d (%d rows of %d features + intercept)", ErrBadParams, len(p.Weights), m, data.rows, data.d)
	}
	for _, w := range p.Weights {
		if math.IsNaN(w) || math.IsInf(w, 0) || math.Abs(w) > 1e6 {
			return p, nil, fmt.Errorf("%w: a weight is not finite or over 1e6 in magnitude", ErrBadParams)
		}
	}
	for i := range t.Rows {
		var label int
		if tc.Kind == dataset.Categorical {
			label = int(tc.Codes[i])
		} else {
			v := tc.Ints[i]
			if v < 0 || v >= int64(data.k) {
				continue
			}
			label = int(v)
		}
		start := len(data.x)
		ok := true
		for _, c := range fc {
			v := c.Float64(i)
			ok = ok && !math.IsNaN(v)
			data.x = append(data.x, v)
		}
		if !ok {
			data.x = data.x[:start]
			continue
		}
		data.y = append(data.y, label)
	}
	if len(data.y) == 0 {
		return p, nil, fmt.Errorf("%w: no complete rows", ErrBadParams)
	}
	if err := data.standardise(p); err != nil {
		return p, nil, err
	}
	return p, data, nil
}

// probs writes into out the class probabilities of row i under w.
func (data *logregData) probs(w []float64, i int, out []float64) {
	x := data.x[i*data.d : (i+1)*data.d]
	stride := data.d + 1
	if data.rows == 1 {
		z := w[data.d]
		for j, v := range x {
			z += w[j] * v
		}
		p1 := 1 / (1 + math.Exp(-z))
		out[0], out[1] = 1-p1, p1
		return
	}
	hi := math.Inf(-1)
	for c := range data.k {
		r := w[c*stride : (c+1)*stride]
		z := r[data.d]
		for j, v := range x {
			z += r[j] * v
		}
		out[c] = z
		hi = max(hi, z)
	}
	var sum float64
	for c := range data.k {
		out[c] = math.Exp(out[c] - hi)
		sum += out[c]
	}
	for c := range data.k {
		out[c] /= sum
	}
}

// lossGrad returns the mean cross-entropy plus l2/2·|w|² over rows idx and
// adds its gradient to grad (when not nil).
func (data *logregData) lossGrad(w []float64, idx []int, l2 float64, grad []float64) float64 {
	p := make([]float64, data.k)
	stride := data.d + 1
	var loss float64
	inv := 1 / float64(len(idx))
	for _, i := range idx {
		data.probs(w, i, p)
		y := data.y[i]
		loss -= math.Log(max(p[y], 1e-300))
		if grad == nil {
			continue
		}
		x := data.x[i*data.d : (i+1)*data.d]
		for r := range data.rows {
			// Binary: the one row is class 1. Multinomial: row r is class r.
			c := r
			if data.rows == 1 {
				c = 1
			}
			e := p[c]
			if y == c {
				e--
			}
			g := grad[r*stride : (r+1)*stride]
			for j, v := range x {
				g[j] += e * v * inv
			}
			g[data.d] += e * inv
		}
	}
	loss *= inv
	for j, v := range w {
		loss += l2 / 2 * v * v
		if grad != nil {
			grad[j] += l2 * v
		}
	}
	return loss
}

func runLogRegTrain(ctx context.Context, in Input) (json.RawMessage, error) {
	return logregTrain(ctx, in, nil)
}

func logregTrain(ctx context.Context, in Input, dp *dpTraining) (json.RawMessage, error) {
	p, data, err := parseLogReg(in)
	if err != nil {
		return nil, err
	}
	if p.Moments {
		if dp != nil {
			return nil, fmt.Errorf("%w: moments have no differentially private form", ErrBadParams)
		}
		return data.moments()
	}
	if dp != nil {
		if err := dpTrainCheck(p, dp.policy); err != nil {
			return nil, err
		}
	}
	res := struct {
		Algorithm string       `json:"algorithm"`
		Classes   []string     `json:"classes"`
		Features  []string     `json:"features"`
		Update    []number     `json:"update"`
		Samples   number       `json:"samples"`
		Loss      *number      `json:"loss,omitempty"`
		DP        *dpTrainInfo `json:"dp,omitempty"`
	}{Algorithm: LogRegTrainID, Classes: data.labels, Features: data.names}
	var w []float64
	if dp == nil {
		if w, err = data.train(ctx, p, in.JobID); err != nil {
			return nil, err
		}
		res.Samples = number(len(data.y))
		res.Loss = num(data.lossGrad(w, data.all(), p.L2, nil))
	} else {
		rho := dp.policy.Rho()
		noise := newDPSteps(rho, p.Clip, p.Epochs)
		var samples float64
		if w, samples, err = data.trainDP(ctx, p, noise, dp.rng); err != nil {
			return nil, err
		}
		res.Samples = number(samples)
		res.DP = &dpTrainInfo{Epsilon: dp.policy.Epsilon, Delta: dp.policy.Delta, Mechanism: "gaussian", Unit: "row", Rho: rho,
			Steps: noise.steps, NoiseMultiplier: noise.z, Sensitivity: noise.sensitivity,
			RowsScale: noise.countSD(p.Clip) / math.Sqrt(float64(noise.steps)), Clip: p.Clip}
	}
	res.Update = make([]number, len(w))
	for j := range w {
		res.Update[j] = number(w[j] - p.Weights[j])
	}
	return json.Marshal(res)
}

// all returns the indexes of every row.
func (data *logregData) all() []int {
	all := make([]int, len(data.y))
	for i := range all {
		all[i] = i
	}
	return all
}

// train runs p.Epochs epochs of the params' optimizer from p.Weights and
// returns the weights. SGD shuffles with a source seeded from the job id.
func (data *logregData) train(ctx context.Context, p logregParams, jobID string) ([]float64, error) {
	all := data.all()
	n := len(all)
	w := append([]float64(nil), p.Weights...)
	switch p.Optimizer {
	case "sgd":
		seed := sha256.Sum256([]byte("logreg-train " + jobID))
		rng := rand.New(rand.NewChaCha8(seed))
		grad := make([]float64, len(w))
		for range p.Epochs {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			rng.Shuffle(n, func(i, j int) { all[i], all[j] = all[j], all[i] })
			for lo := 0; lo < n; lo += p.BatchSize {
				clear(grad)
				data.lossGrad(w, all[lo:min(lo+p.BatchSize, n)], p.L2, grad)
				for j := range w {
					w[j] -= p.LearningRate * grad[j]
				}
			}
		}
	case "lbfgs":
		problem := optimize.Problem{
			Func: func(x []float64) float64 { return data.lossGrad(x, all, p.L2, nil) },
			Grad: func(g, x []float64) {
				clear(g)
				data.lossGrad(x, all, p.L2, g)
			},
		}
		r, err := optimize.Minimize(problem, w, &optimize.Settings{MajorIterations: p.Epochs}, &optimize.LBFGS{})
		if err != nil && r == nil {
			return nil, fmt.Errorf("lbfgs: %w", err)
		}
		copy(w, r.X)
	}
	return w, nil
}

// standardise applies the params' center and scale to every feature.
func (data *logregData) standardise(p logregParams) error {
	if p.Center == nil && p.Scale == nil {
		return nil
	}
	switch {
	case p.Moments:
		return fmt.Errorf("%w: moments are of the raw features; center and scale do not apply", ErrBadParams)
	case len(p.Center) != data.d || len(p.Scale) != data.d:
		return fmt.Errorf("%w: center and scale need %d entries each (one per feature)", ErrBadParams, data.d)
	}
	for j := range data.d {
		c, s := p.Center[j], p.Scale[j]
		if math.IsNaN(c) || math.IsInf(c, 0) || math.Abs(c) > 1e12 || !(s > 0 && s <= 1e12) {
			return fmt.Errorf("%w: center or scale of feature %d is out of range (|center| ≤ 1e12, 0 < scale ≤ 1e12)", ErrBadParams, j)
		}
	}
	for i, v := range data.x {
		j := i % data.d
		data.x[i] = (v - p.Center[j]) / p.Scale[j]
	}
	return nil
}

// moments returns the per-feature sums and sums of squares.
func (data *logregData) moments() (json.RawMessage, error) {
	sums := make([]number, data.d)
	sumsq := make([]number, data.d)
	for i, v := range data.x {
		j := i % data.d
		sums[j] += number(v)
		sumsq[j] += number(v * v)
	}
	return json.Marshal(struct {
		Algorithm string   `json:"algorithm"`
		Features  []string `json:"features"`
		Samples   int      `json:"samples"`
		Sums      []number `json:"sums"`
		Sumsq     []number `json:"sumsq"`
	}{LogRegTrainID, data.names, len(data.y), sums, sumsq})
}
