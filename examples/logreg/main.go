// Command logreg is an example trove algorithm: binary logistic regression
// trained by mini-batch gradient descent, for federated training. Given
// the global weights it trains a few local epochs and reports the weight
// update and the number of samples. Build it with go generate ./examples/.
//
// Params:
//
//	{"target": "diagnosis",      // a categorical column with two levels (the second is the positive class)
//	 "features": ["a", "b"],     // float or integer columns; default all of them
//	 "weights": [..],            // one per feature, then the intercept; default zeros
//	 "epochs": 5, "learning_rate": 0.1, "batch_size": 32}
//
// Output:
//
//	{"algorithm":"logreg","features":[..],"update":[..],"samples":N,"loss":..}
//
// Rows are visited in a fixed order: the run is reproducible.
package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"

	"github.com/trove-project/trove/guest"
)

type params struct {
	Target       string    `json:"target"`
	Features     []string  `json:"features"`
	Weights      []float64 `json:"weights"`
	Epochs       int       `json:"epochs"`
	LearningRate float64   `json:"learning_rate"`
	BatchSize    int       `json:"batch_size"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "logreg:", err)
		os.Exit(1)
	}
}

func run() error {
	f, err := guest.Read()
	if err != nil {
		return err
	}
	p := params{Epochs: 5, LearningRate: 0.1, BatchSize: 32}
	if err := json.Unmarshal(f.Params, &p); err != nil {
		return fmt.Errorf("params: %w", err)
	}
	if p.Epochs < 1 || p.Epochs > 100 || !(p.LearningRate > 0 && p.LearningRate <= 10) || p.BatchSize < 1 {
		return fmt.Errorf("params: epochs 1..100, learning_rate (0, 10], batch_size >= 1")
	}
	target := f.Column(p.Target)
	if target == nil || target.Kind != guest.Categorical || len(target.Levels) != 2 {
		return fmt.Errorf("params: target %q is not a categorical column with two levels", p.Target)
	}
	if len(p.Features) == 0 {
		for _, c := range f.Columns {
			if c.Kind == guest.Float || c.Kind == guest.Integer {
				p.Features = append(p.Features, c.Name)
			}
		}
	}
	d := len(p.Features)
	// Copy the features into one row-major matrix: rows are read many times.
	x := make([]float64, f.Rows*d)
	for j, name := range p.Features {
		c := f.Column(name)
		if c == nil || slices.Contains(p.Features[:j], name) {
			return fmt.Errorf("params: feature %q is not a column or is named twice", name)
		}
		switch c.Kind {
		case guest.Float:
			for i, v := range c.Floats() {
				x[i*d+j] = v
			}
		case guest.Integer:
			for i, v := range c.Ints() {
				x[i*d+j] = float64(v)
			}
		default:
			return fmt.Errorf("params: feature %q is not float or integer", name)
		}
	}
	y := target.Codes()
	if p.Weights == nil {
		p.Weights = make([]float64, d+1)
	}
	if len(p.Weights) != d+1 {
		return fmt.Errorf("params: %d weights, want %d", len(p.Weights), d+1)
	}
	w := slices.Clone(p.Weights)
	grad := make([]float64, d+1)
	for range p.Epochs {
		for lo := 0; lo < f.Rows; lo += p.BatchSize {
			hi := min(lo+p.BatchSize, f.Rows)
			clear(grad)
			for i := lo; i < hi; i++ {
				e := sigmoid(w, x[i*d:(i+1)*d]) - float64(y[i])
				for j, v := range x[i*d : (i+1)*d] {
					grad[j] += e * v
				}
				grad[d] += e
			}
			for j := range w {
				w[j] -= p.LearningRate * grad[j] / float64(hi-lo)
			}
		}
	}
	var loss float64
	for i := range f.Rows {
		q := sigmoid(w, x[i*d:(i+1)*d])
		if y[i] == 1 {
			loss -= math.Log(max(q, 1e-300))
		} else {
			loss -= math.Log(max(1-q, 1e-300))
		}
	}
	update := make([]float64, d+1)
	for j := range w {
		update[j] = w[j] - p.Weights[j]
	}
	return guest.WriteResult(map[string]any{"algorithm": "logreg", "features": p.Features, "update": update,
		"samples": f.Rows, "loss": loss / float64(max(f.Rows, 1))})
}

func sigmoid(w, x []float64) float64 {
	z := w[len(x)]
	for j, v := range x {
		z += w[j] * v
	}
	return 1 / (1 + math.Exp(-z))
}
