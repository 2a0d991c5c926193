// Command histogram is an example trove algorithm: for each numeric column
// it counts the values in equal-width bins between the column's minimum
// and maximum, and for each categorical column the values of each level.
// Build it with go generate ./examples/.
//
// Params: {"bins": N} with N in 1..1000 (default 10).
//
// Output:
//
//	{"algorithm":"histogram","rows":N,"columns":[
//	  {"name":..,"lo":..,"hi":..,"counts":[..],"missing":M},
//	  {"name":..,"levels":{"A":..}}]}
package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"

	"github.com/trove-project/trove/guest"
)

type column struct {
	Name    string         `json:"name"`
	Lo      *float64       `json:"lo,omitempty"`
	Hi      *float64       `json:"hi,omitempty"`
	Counts  []int          `json:"counts,omitempty"`
	Missing int            `json:"missing,omitempty"`
	Levels  map[string]int `json:"levels,omitempty"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "histogram:", err)
		os.Exit(1)
	}
}

func run() error {
	f, err := guest.Read()
	if err != nil {
		return err
	}
	p := struct{ Bins int }{Bins: 10}
	if len(f.Params) > 0 {
		if err := json.Unmarshal(f.Params, &p); err != nil {
			return fmt.Errorf("params: %w", err)
		}
	}
	if p.Bins < 1 || p.Bins > 1000 {
		return fmt.Errorf("params: bins %d is not in 1..1000", p.Bins)
	}
	cols := []column{}
	for i := range f.Columns {
		c := &f.Columns[i]
		switch c.Kind {
		case guest.Categorical:
			counts := make([]int, len(c.Levels))
			for _, code := range c.Codes() {
				if int(code) < len(counts) {
					counts[code]++
				}
			}
			col := column{Name: c.Name, Levels: map[string]int{}}
			for j, l := range c.Levels {
				col.Levels[l] += counts[j]
			}
			cols = append(cols, col)
		case guest.Float:
			cols = append(cols, bin(c.Name, c.Floats(), p.Bins))
		case guest.Integer, guest.Timestamp:
			ints := c.Ints()
			xs := make([]float64, len(ints))
			for j, v := range ints {
				xs[j] = float64(v)
			}
			cols = append(cols, bin(c.Name, xs, p.Bins))
		}
	}
	return guest.WriteResult(map[string]any{"algorithm": "histogram", "rows": f.Rows, "columns": cols})
}

// bin counts xs in bins equal-width bins between their min and max; NaNs
// are counted as missing.
func bin(name string, xs []float64, bins int) column {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, x := range xs {
		if !math.IsNaN(x) {
			lo, hi = min(lo, x), max(hi, x)
		}
	}
	col := column{Name: name, Counts: make([]int, bins)}
	if lo > hi || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		for _, x := range xs {
			if math.IsNaN(x) {
				col.Missing++
			}
		}
		return col
	}
	col.Lo, col.Hi = &lo, &hi
	width := (hi - lo) / float64(bins)
	for _, x := range xs {
		if math.IsNaN(x) {
			col.Missing++
			continue
		}
		k := 0
		if width > 0 {
			k = int((x - lo) / width)
		}
		col.Counts[min(max(k, 0), bins-1)]++
	}
	return col
}
