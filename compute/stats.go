package compute

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"

	"gonum.org/v1/gonum/stat"

	"github.com/trove-project/trove/dataset"
)

// StatsID is the id of the built-in summary statistics algorithm. For each
// numeric column (float, integer, timestamp) it gives the count of values
// that are not NaN, and over those the mean, the sample standard deviation,
// the minimum, the maximum and the empirical quantiles 0.05, 0.25, 0.5,
// 0.75 and 0.95; integers and timestamps are taken as float64. For each
// categorical column it gives the count and the count of each level. A
// statistic that does not exist (the mean of nothing, the standard
// deviation of one value) or is not finite is null. It takes no params.
//
//	{"algorithm":"builtin:stats@1","rows":N,"columns":[
//	  {"name":"age","kind":"integer","count":N,"mean":..,"std":..,"min":..,"max":..,
//	   "quantiles":{"0.05":..,"0.25":..,"0.5":..,"0.75":..,"0.95":..}},
//	  {"name":"sex","kind":"categorical","count":N,"levels":{"F":..,"M":..}}]}
const StatsID = "builtin:stats@1"

type statsResult struct {
	Algorithm string `json:"algorithm"`
	Rows      int    `json:"rows"`
	Columns   []any  `json:"columns"` // numericStats or categoricalStats
}

type numericStats struct {
	Name      string            `json:"name"`
	Kind      dataset.Kind      `json:"kind"`
	Count     int               `json:"count"`
	Mean      *number           `json:"mean"`
	Std       *number           `json:"std"`
	Min       *number           `json:"min"`
	Max       *number           `json:"max"`
	Quantiles map[string]number `json:"quantiles"`
}

type categoricalStats struct {
	Name   string         `json:"name"`
	Kind   dataset.Kind   `json:"kind"`
	Count  int            `json:"count"`
	Levels map[string]int `json:"levels"`
}

// number is a float64 that encodes as null when it is NaN or infinite,
// which JSON cannot hold.
type number float64

// MarshalJSON encodes n, or null when it is not finite.
func (n number) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(f)
}

func num(f float64) *number { n := number(f); return &n }

func runStats(ctx context.Context, in Input) (json.RawMessage, error) {
	t := in.Table
	res := statsResult{Algorithm: StatsID, Rows: t.Rows, Columns: make([]any, 0, len(t.Columns))}
	for i := range t.Columns {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		c := &t.Columns[i]
		if c.Len() != t.Rows {
			return nil, fmt.Errorf("column %q has %d values for %d rows: %w", c.Name, c.Len(), t.Rows, ErrBadInput)
		}
		var sc any
		var err error
		switch c.Kind {
		case dataset.Float, dataset.Integer, dataset.Timestamp:
			sc = numericColumnStats(c)
		case dataset.Categorical:
			sc, err = categoricalColumnStats(c)
		default:
			err = fmt.Errorf("column %q has unknown kind %q: %w", c.Name, c.Kind, ErrBadInput)
		}
		if err != nil {
			return nil, err
		}
		res.Columns = append(res.Columns, sc)
	}
	b, err := json.Marshal(res)
	if err != nil {
		return nil, fmt.Errorf("encode result: %w", err)
	}
	return b, nil
}

func numericColumnStats(c *dataset.Column) numericStats {
	xs := make([]float64, 0, c.Len())
	for i := range c.Len() {
		if v := c.Float64(i); !math.IsNaN(v) {
			xs = append(xs, v)
		}
	}
	sc := numericStats{Name: c.Name, Kind: c.Kind, Count: len(xs)}
	if len(xs) == 0 {
		return sc
	}
	slices.Sort(xs)
	mean, std := stat.MeanStdDev(xs, nil)
	sc.Mean, sc.Min, sc.Max = num(mean), num(xs[0]), num(xs[len(xs)-1])
	if len(xs) > 1 {
		sc.Std = num(std)
	}
	sc.Quantiles = make(map[string]number, 5)
	for _, p := range []float64{0.05, 0.25, 0.5, 0.75, 0.95} {
		sc.Quantiles[strconv.FormatFloat(p, 'g', -1, 64)] = number(stat.Quantile(p, stat.Empirical, xs, nil))
	}
	return sc
}

func categoricalColumnStats(c *dataset.Column) (categoricalStats, error) {
	counts := make([]int, len(c.Levels))
	for row, code := range c.Codes {
		if int(code) >= len(counts) {
			return categoricalStats{}, fmt.Errorf("column %q: row %d: code names no level: %w", c.Name, row, ErrBadInput)
		}
		counts[code]++
	}
	sc := categoricalStats{Name: c.Name, Kind: c.Kind, Count: len(c.Codes), Levels: make(map[string]int, len(c.Levels))}
	for i, l := range c.Levels {
		sc.Levels[l] += counts[i]
	}
	return sc, nil
}
