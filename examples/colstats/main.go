// Command colstats is an example trove algorithm: for each numeric column
// (float, integer, timestamp) it reports the count, mean, minimum and
// maximum of its values. Build it with go generate ./examples/.
//
// Output:
//
//	{"algorithm":"colstats","rows":N,"columns":[{"name":..,"count":..,"mean":..,"min":..,"max":..}]}
//
// Mean, min and max are null for a column with no values, or when they are
// not finite (a NaN or an infinity among the values).
package main

import (
	"fmt"
	"math"
	"os"

	"github.com/trove-project/trove/guest"
)

type column struct {
	Name  string   `json:"name"`
	Count int      `json:"count"`
	Mean  *float64 `json:"mean"`
	Min   *float64 `json:"min"`
	Max   *float64 `json:"max"`
}

type result struct {
	Algorithm string   `json:"algorithm"`
	Rows      int      `json:"rows"`
	Columns   []column `json:"columns"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "colstats:", err)
		os.Exit(1)
	}
}

func run() error {
	f, err := guest.Read()
	if err != nil {
		return err
	}
	res := result{Algorithm: "colstats", Rows: f.Rows, Columns: []column{}}
	for i := range f.Columns {
		c := &f.Columns[i]
		var sum, lo, hi float64
		switch c.Kind {
		case guest.Float:
			sum, lo, hi = summarize(c.Floats())
		case guest.Integer, guest.Timestamp:
			sum, lo, hi = summarizeInts(c.Ints())
		default:
			continue
		}
		col := column{Name: c.Name, Count: f.Rows}
		if f.Rows > 0 {
			col.Mean, col.Min, col.Max = finite(sum/float64(f.Rows)), finite(lo), finite(hi)
		}
		res.Columns = append(res.Columns, col)
	}
	return guest.WriteResult(res)
}

// finite returns x, or nil when JSON cannot hold it (NaN, infinities).
func finite(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}

// summarize returns the sum, minimum and maximum of xs. Four independent
// accumulators let the loop run without waiting on one addition chain.
func summarize(xs []float64) (sum, lo, hi float64) {
	var s0, s1, s2, s3 float64
	lo, hi = math.Inf(1), math.Inf(-1)
	i := 0
	for ; i+4 <= len(xs); i += 4 {
		a, b, c, d := xs[i], xs[i+1], xs[i+2], xs[i+3]
		s0 += a
		s1 += b
		s2 += c
		s3 += d
		lo = min(lo, a, b, c, d)
		hi = max(hi, a, b, c, d)
	}
	for ; i < len(xs); i++ {
		s0 += xs[i]
		lo = min(lo, xs[i])
		hi = max(hi, xs[i])
	}
	return (s0 + s1) + (s2 + s3), lo, hi
}

// summarizeInts is summarize for integers, summed as float64.
func summarizeInts(xs []int64) (sum, lo, hi float64) {
	var s0, s1, s2, s3 float64
	var l, h int64 = math.MaxInt64, math.MinInt64
	i := 0
	for ; i+4 <= len(xs); i += 4 {
		a, b, c, d := xs[i], xs[i+1], xs[i+2], xs[i+3]
		s0 += float64(a)
		s1 += float64(b)
		s2 += float64(c)
		s3 += float64(d)
		l = min(l, a, b, c, d)
		h = max(h, a, b, c, d)
	}
	for ; i < len(xs); i++ {
		s0 += float64(xs[i])
		l = min(l, xs[i])
		h = max(h, xs[i])
	}
	return (s0 + s1) + (s2 + s3), float64(l), float64(h)
}
