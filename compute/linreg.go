package compute

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"

	"github.com/trove-project/trove/dataset"
)

// LinRegID is the id of the built-in ordinary least squares regression.
//
// Params:
//
//	{"target": "y",            // required: a numeric column
//	 "features": ["a", "b"],   // numeric columns; default every numeric column but the target
//	 "intercept": true}        // default true
//
// Rows where the target or a feature is missing (NaN) are left out. The
// fit needs more rows than coefficients.
//
//	{"algorithm":"builtin:linreg@1","target":"y","features":["a","b"],
//	 "coefficients":[..],"intercept":..,"n":N,"r2":..}
const LinRegID = "builtin:linreg@1"

// MaxFeatures caps the features of the built-in regressions.
const MaxFeatures = 1000

type linregParams struct {
	Target    string   `json:"target"`
	Features  []string `json:"features"`
	Intercept *bool    `json:"intercept"`
}

// featureColumns checks target and features against t: all exist, are
// numeric (or, when catTarget, the target may be categorical), the target
// is not a feature, no feature repeats. Empty features means every numeric
// column but the target.
func featureColumns(t *dataset.Table, target string, features []string, catTarget bool) (*dataset.Column, []*dataset.Column, error) {
	tc := t.Column(target)
	if target == "" || tc == nil {
		return nil, nil, fmt.Errorf("%w: target %q is not a column", ErrBadParams, target)
	}
	if tc.Kind == dataset.Categorical && !catTarget {
		return nil, nil, fmt.Errorf("%w: target %q is categorical", ErrBadParams, target)
	}
	if len(features) == 0 {
		for i := range t.Columns {
			if c := &t.Columns[i]; c.Name != target && c.Kind != dataset.Categorical {
				features = append(features, c.Name)
			}
		}
	}
	if len(features) == 0 || len(features) > MaxFeatures {
		return nil, nil, fmt.Errorf("%w: %d features, want 1..%d", ErrBadParams, len(features), MaxFeatures)
	}
	cols := make([]*dataset.Column, len(features))
	for i, f := range features {
		c := t.Column(f)
		switch {
		case c == nil:
			return nil, nil, fmt.Errorf("%w: feature %q is not a column", ErrBadParams, f)
		case c.Kind == dataset.Categorical:
			return nil, nil, fmt.Errorf("%w: feature %q is categorical", ErrBadParams, f)
		case f == target:
			return nil, nil, fmt.Errorf("%w: feature %q is the target", ErrBadParams, f)
		case slices.Contains(features[:i], f):
			return nil, nil, fmt.Errorf("%w: feature %q is named twice", ErrBadParams, f)
		}
		cols[i] = c
	}
	return tc, cols, nil
}

func runLinReg(ctx context.Context, in Input) (json.RawMessage, error) {
	var p linregParams
	if err := decodeParams(in.Params, &p); err != nil {
		return nil, err
	}
	t := in.Table
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadInput, err)
	}
	tc, fc, err := featureColumns(t, p.Target, p.Features, false)
	if err != nil {
		return nil, err
	}
	intercept := p.Intercept == nil || *p.Intercept
	k := len(fc)
	if intercept {
		k++
	}
	var xs, ys []float64
	for i := range t.Rows {
		y := tc.Float64(i)
		row := make([]float64, 0, k)
		ok := !math.IsNaN(y)
		for _, c := range fc {
			v := c.Float64(i)
			ok = ok && !math.IsNaN(v)
			row = append(row, v)
		}
		if !ok {
			continue
		}
		if intercept {
			row = append(row, 1)
		}
		xs, ys = append(xs, row...), append(ys, y)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n := len(ys)
	if n <= k {
		return nil, fmt.Errorf("%w: %d complete rows for %d coefficients", ErrBadParams, n, k)
	}
	X, Y := mat.NewDense(n, k, xs), mat.NewVecDense(n, ys)
	var qr mat.QR
	qr.Factorize(X)
	if c := qr.Cond(); c > 1e12 || math.IsNaN(c) {
		return nil, fmt.Errorf("%w: the features are collinear (condition number %.3g)", ErrBadParams, c)
	}
	var beta mat.VecDense
	if err := qr.SolveVecTo(&beta, false, Y); err != nil {
		return nil, fmt.Errorf("%w: the features are collinear: %w", ErrBadParams, err)
	}
	var fitted mat.VecDense
	fitted.MulVec(X, &beta)
	var ssRes, ssTot, mean float64
	for _, y := range ys {
		mean += y / float64(n)
	}
	for i, y := range ys {
		ssRes += (y - fitted.AtVec(i)) * (y - fitted.AtVec(i))
		ssTot += (y - mean) * (y - mean)
	}
	names := make([]string, len(fc))
	coef := make([]number, len(fc))
	for i, c := range fc {
		names[i], coef[i] = c.Name, number(beta.AtVec(i))
	}
	res := struct {
		Algorithm    string   `json:"algorithm"`
		Target       string   `json:"target"`
		Features     []string `json:"features"`
		Coefficients []number `json:"coefficients"`
		Intercept    *number  `json:"intercept,omitempty"`
		N            int      `json:"n"`
		R2           number   `json:"r2"`
	}{Algorithm: LinRegID, Target: tc.Name, Features: names, Coefficients: coef, N: n, R2: number(1 - ssRes/ssTot)}
	if intercept {
		res.Intercept = num(beta.AtVec(k - 1))
	}
	return json.Marshal(res)
}
