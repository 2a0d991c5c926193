package compute

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/trove-project/trove/dataset"
)

// ErrBadParams: a built-in algorithm's params are malformed or out of
// range. The message names the param.
var ErrBadParams = errors.New("bad algorithm params")

// HistogramID is the id of the built-in histogram. For each numeric column
// it counts the values in Bins equal-width bins between the column's
// bounds (values outside fall in the end bins; NaN is counted as missing),
// and for each categorical column the values of each level.
//
// Params (all optional; no other field is allowed):
//
//	{"bins": 10,                       // 1..1000, default 10
//	 "bounds": {"age": [0, 120], ...}} // lo < hi, finite; default the column's min and max
//
// Under the dp output policy every numeric column to release needs
// declared bounds (a column without them is left out, since data-derived
// bounds would leak), and each histogram gets noise of sensitivity 1.
//
//	{"algorithm":"builtin:histogram@1","rows":N,"columns":[
//	  {"name":"age","kind":"integer","edges":[e0,..,eBins],"counts":[..],"missing":M},
//	  {"name":"sex","kind":"categorical","levels":{"F":..,"M":..}}]}
const HistogramID = "builtin:histogram@1"

// Limits on histogram params.
const (
	DefaultBins = 10
	MaxBins     = 1000
)

type histogramParams struct {
	Bins   int                   `json:"bins"`
	Bounds map[string][2]float64 `json:"bounds"`
}

type histogramColumn struct {
	Name    string            `json:"name"`
	Kind    dataset.Kind      `json:"kind"`
	Edges   []number          `json:"edges,omitempty"`
	Counts  []number          `json:"counts,omitempty"`
	Missing *number           `json:"missing,omitempty"`
	Levels  map[string]number `json:"levels,omitempty"`
}

type histogramResult struct {
	Algorithm string            `json:"algorithm"`
	DP        *dpInfo           `json:"dp,omitempty"`
	Rows      number            `json:"rows"`
	Columns   []histogramColumn `json:"columns"`
}

// decodeParams decodes raw (empty or null means {}) strictly into v.
func decodeParams(raw json.RawMessage, v any) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %w", ErrBadParams, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: more than one JSON document", ErrBadParams)
	}
	return nil
}

func parseHistogramParams(raw json.RawMessage, t *dataset.Table) (histogramParams, error) {
	p := histogramParams{Bins: DefaultBins}
	if err := decodeParams(raw, &p); err != nil {
		return p, err
	}
	if p.Bins < 1 || p.Bins > MaxBins {
		return p, fmt.Errorf("%w: bins %d is not in 1..%d", ErrBadParams, p.Bins, MaxBins)
	}
	_, err := parseDPParams(mustJSON(DPParams{Bounds: p.Bounds}), t)
	return p, err
}

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }

func runHistogram(ctx context.Context, in Input) (json.RawMessage, error) {
	return histogram(ctx, in, nil, nil)
}

func dpHistogram(ctx context.Context, in Input, policy OutputPolicy, rng *rand.Rand) (json.RawMessage, error) {
	p, err := parseHistogramParams(in.Params, in.Table)
	if err != nil {
		return nil, err
	}
	queries := 1
	for i := range in.Table.Columns {
		c := &in.Table.Columns[i]
		if _, ok := p.Bounds[c.Name]; ok || c.Kind == dataset.Categorical {
			queries++
		}
	}
	noise := NewNoise(policy, queries, rng)
	return histogram(ctx, in, noise, &dpInfo{Epsilon: policy.Epsilon, Delta: policy.Delta, Mechanism: noise.Mechanism, RowsScale: noise.Scale(1)})
}

// histogram computes the histograms; with noise, only of columns with
// declared bounds, each count noised with sensitivity 1.
func histogram(ctx context.Context, in Input, noise *Noise, info *dpInfo) (json.RawMessage, error) {
	t := in.Table
	p, err := parseHistogramParams(in.Params, t)
	if err != nil {
		return nil, err
	}
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadInput, err)
	}
	add := func(x float64) number { return number(x) }
	res := histogramResult{Algorithm: HistogramID, Rows: number(t.Rows), Columns: []histogramColumn{}}
	if noise != nil {
		add = func(x float64) number { return number(noise.Add(x, 1)) }
		res.DP = info
		res.Rows = add(float64(t.Rows))
	}
	for i := range t.Columns {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		c := &t.Columns[i]
		hc := histogramColumn{Name: c.Name, Kind: c.Kind}
		if c.Kind == dataset.Categorical {
			counts := make([]float64, len(c.Levels))
			for _, code := range c.Codes {
				counts[code]++
			}
			hc.Levels = make(map[string]number, len(c.Levels))
			for j, l := range c.Levels {
				hc.Levels[l] = add(counts[j])
			}
			res.Columns = append(res.Columns, hc)
			continue
		}
		b, ok := p.Bounds[c.Name]
		if !ok {
			if noise != nil {
				continue
			}
			b = [2]float64{math.Inf(1), math.Inf(-1)}
			for j := range c.Len() {
				if v := c.Float64(j); !math.IsNaN(v) {
					b[0], b[1] = min(b[0], v), max(b[1], v)
				}
			}
			if b[0] > b[1] { // no values
				b = [2]float64{0, 0}
			}
		}
		counts := make([]float64, p.Bins)
		var missing float64
		width := (b[1] - b[0]) / float64(p.Bins)
		for j := range c.Len() {
			v := c.Float64(j)
			if math.IsNaN(v) {
				missing++
				continue
			}
			k := 0
			if width > 0 {
				k = int(math.Floor((v - b[0]) / width))
			}
			counts[min(max(k, 0), p.Bins-1)]++
		}
		hc.Edges = make([]number, p.Bins+1)
		for k := range hc.Edges {
			hc.Edges[k] = number(b[0] + float64(k)*width)
		}
		hc.Edges[p.Bins] = number(b[1])
		hc.Counts = make([]number, p.Bins)
		for k, n := range counts {
			hc.Counts[k] = add(n)
		}
		// The missing count is one more cell of the same histogram: a row
		// lands in exactly one cell, so the sensitivity stays 1.
		m := add(missing)
		hc.Missing = &m
		res.Columns = append(res.Columns, hc)
	}
	return json.Marshal(res)
}
