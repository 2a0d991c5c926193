// Command colmean writes the mean of each float column: the work of the
// column mean benchmark, written the way the guest SDK makes fast (column
// views of the frame, several accumulators).
package main

import "github.com/trove-project/trove/guest"

func main() {
	f, err := guest.Read()
	if err != nil {
		panic(err)
	}
	means := make([]float64, 0, len(f.Columns))
	for i := range f.Columns {
		means = append(means, mean(f.Columns[i].Floats()))
	}
	guest.WriteResult(map[string][]float64{"means": means})
}

func mean(xs []float64) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(xs); i += 4 {
		s0 += xs[i]
		s1 += xs[i+1]
		s2 += xs[i+2]
		s3 += xs[i+3]
	}
	for ; i < len(xs); i++ {
		s0 += xs[i]
	}
	return ((s0 + s1) + (s2 + s3)) / float64(max(len(xs), 1))
}
