package compute

import (
	"encoding/json"
	"fmt"

	"github.com/trove-project/trove/dataset"
)

// LogRegModel is a logistic regression model as builtin:logreg-train@1
// trains it: Weights laid out as that built-in's params doc says, over
// Features standardised by Center and Scale when those are set.
type LogRegModel struct {
	Target   string    `json:"target"`
	Classes  int       `json:"classes"` // for an integer target; 0 for a categorical one
	Features []string  `json:"features,omitempty"`
	Center   []float64 `json:"center,omitempty"`
	Scale    []float64 `json:"scale,omitempty"`
	Weights  []float64 `json:"weights"`
}

// LogRegEval is how a model does on a table.
type LogRegEval struct {
	Rows     int     `json:"rows"`     // complete rows scored
	Correct  int     `json:"correct"`  // rows whose most probable class is the label
	Accuracy float64 `json:"accuracy"` // Correct / Rows
	Loss     float64 `json:"loss"`     // mean cross-entropy
}

// params turns the model into the built-in's params, so that evaluation
// reads the table exactly as training does.
func (m LogRegModel) params() (json.RawMessage, error) {
	return json.Marshal(logregParams{Target: m.Target, Classes: m.Classes, Features: m.Features, Weights: m.Weights, Center: m.Center, Scale: m.Scale,
		Epochs: 1, Optimizer: "sgd", LearningRate: 0.1, BatchSize: 32})
}

func (m LogRegModel) data(t *dataset.Table) (*logregData, error) {
	raw, err := m.params()
	if err != nil {
		return nil, err
	}
	_, data, err := parseLogReg(Input{Table: t, Params: raw})
	if err != nil {
		return nil, fmt.Errorf("logistic regression model: %w", err)
	}
	return data, nil
}

// LogRegPredict returns the most probable class (0..k−1, in the target's
// level order) of every complete row of t; rows with a missing feature or
// label are left out, as in training.
func LogRegPredict(m LogRegModel, t *dataset.Table) ([]int, error) {
	data, err := m.data(t)
	if err != nil {
		return nil, err
	}
	out := make([]int, len(data.y))
	p := make([]float64, data.k)
	for i := range out {
		data.probs(m.Weights, i, p)
		out[i] = argmax(p)
	}
	return out, nil
}

// LogRegAccuracy scores m on the labelled table t by the same code that
// trains it.
func LogRegAccuracy(m LogRegModel, t *dataset.Table) (LogRegEval, error) {
	data, err := m.data(t)
	if err != nil {
		return LogRegEval{}, err
	}
	ev := LogRegEval{Rows: len(data.y)}
	p := make([]float64, data.k)
	for i, y := range data.y {
		data.probs(m.Weights, i, p)
		if argmax(p) == y {
			ev.Correct++
		}
	}
	all := make([]int, len(data.y))
	for i := range all {
		all[i] = i
	}
	ev.Loss = data.lossGrad(m.Weights, all, 0, nil)
	ev.Accuracy = float64(ev.Correct) / float64(ev.Rows)
	return ev, nil
}

func argmax(p []float64) int {
	best := 0
	for c, v := range p {
		if v > p[best] {
			best = c
		}
	}
	return best
}
