package federated

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Update is one vault's contribution to a round: the change it proposes to
// the global weights, and how many samples it trained on.
type Update struct {
	Vault   string    // who sent it (the vault's DID or URL)
	Delta   []float64 // proposed change to the global weights
	Samples int       // training rows behind it
}

// Aggregator combines a round's updates into one.
type Aggregator interface {
	// Aggregate returns the combined update and, for aggregators that
	// choose among updates (Krum), the indexes of those used.
	Aggregate(updates []Update) (delta []float64, used []int, err error)
	// String names the aggregator as ParseAggregator reads it.
	String() string
}

// ErrNoUpdates reports a round with nothing to aggregate.
var ErrNoUpdates = errors.New("no updates to aggregate")

// ParseAggregator reads an aggregator name: fedavg, median, trimmed:F
// (F the fraction trimmed at each end, 0 ≤ F < 0.5; default 0.1), or
// krum:F (F the number of Byzantine updates tolerated; multi-Krum averages
// the n−F best-scored updates).
func ParseAggregator(s string) (Aggregator, error) {
	name, arg, hasArg := strings.Cut(s, ":")
	switch name {
	case "fedavg":
		if hasArg {
			return nil, fmt.Errorf("aggregator %q: fedavg takes no parameter", s)
		}
		return FedAvg{}, nil
	case "median":
		if hasArg {
			return nil, fmt.Errorf("aggregator %q: median takes no parameter", s)
		}
		return Median{}, nil
	case "trimmed":
		f := 0.1
		if hasArg {
			v, err := strconv.ParseFloat(arg, 64)
			if err != nil || !(v >= 0 && v < 0.5) {
				return nil, fmt.Errorf("aggregator %q: the trimmed fraction must be in [0, 0.5)", s)
			}
			f = v
		}
		return TrimmedMean{Fraction: f}, nil
	case "krum":
		f := 1
		if hasArg {
			v, err := strconv.Atoi(arg)
			if err != nil || v < 0 || v > 1000 {
				return nil, fmt.Errorf("aggregator %q: krum's F must be a small non-negative integer", s)
			}
			f = v
		}
		return Krum{F: f, Multi: true}, nil
	}
	return nil, fmt.Errorf("unknown aggregator %q (want fedavg, median, trimmed:F or krum:F)", s)
}

// checkUpdates validates a round's updates: same dimension, finite values.
func checkUpdates(updates []Update) (int, error) {
	if len(updates) == 0 {
		return 0, ErrNoUpdates
	}
	d := len(updates[0].Delta)
	for i, u := range updates {
		if len(u.Delta) != d {
			return 0, fmt.Errorf("update %d has %d weights, update 0 has %d", i, len(u.Delta), d)
		}
		for _, x := range u.Delta {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return 0, fmt.Errorf("update %d holds a non-finite weight", i)
			}
		}
		if u.Samples < 0 {
			return 0, fmt.Errorf("update %d claims %d samples", i, u.Samples)
		}
	}
	return d, nil
}

func allIndexes(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// FedAvg averages updates weighted by their sample counts (McMahan et al.).
type FedAvg struct{}

func (FedAvg) String() string { return "fedavg" }

// Aggregate returns the sample-weighted mean.
func (FedAvg) Aggregate(updates []Update) ([]float64, []int, error) {
	d, err := checkUpdates(updates)
	if err != nil {
		return nil, nil, err
	}
	out := make([]float64, d)
	total := 0.0
	for _, u := range updates {
		w := float64(max(u.Samples, 1))
		total += w
		for j, x := range u.Delta {
			out[j] += w * x
		}
	}
	for j := range out {
		out[j] /= total
	}
	return out, allIndexes(len(updates)), nil
}

// Median takes the coordinate-wise median (Yin et al.).
type Median struct{}

func (Median) String() string { return "median" }

// Aggregate returns the coordinate-wise median.
func (Median) Aggregate(updates []Update) ([]float64, []int, error) {
	d, err := checkUpdates(updates)
	if err != nil {
		return nil, nil, err
	}
	out := make([]float64, d)
	col := make([]float64, len(updates))
	for j := range out {
		for i, u := range updates {
			col[i] = u.Delta[j]
		}
		out[j] = median(col)
	}
	return out, allIndexes(len(updates)), nil
}

// median returns the median of xs, reordering xs.
func median(xs []float64) float64 {
	sort.Float64s(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// TrimmedMean drops the Fraction largest and smallest values of each
// coordinate and averages the rest.
type TrimmedMean struct{ Fraction float64 }

func (t TrimmedMean) String() string {
	return "trimmed:" + strconv.FormatFloat(t.Fraction, 'g', -1, 64)
}

// Aggregate returns the coordinate-wise trimmed mean.
func (t TrimmedMean) Aggregate(updates []Update) ([]float64, []int, error) {
	d, err := checkUpdates(updates)
	if err != nil {
		return nil, nil, err
	}
	n := len(updates)
	k := int(math.Floor(t.Fraction * float64(n)))
	if 2*k >= n {
		k = (n - 1) / 2
	}
	out := make([]float64, d)
	col := make([]float64, n)
	for j := range out {
		for i, u := range updates {
			col[i] = u.Delta[j]
		}
		sort.Float64s(col)
		sum := 0.0
		for _, x := range col[k : n-k] {
			sum += x
		}
		out[j] = sum / float64(n-2*k)
	}
	return out, allIndexes(n), nil
}

// Krum scores each update by the summed squared distances to its n−F−2
// nearest neighbours and picks the lowest (Blanchard et al.); Multi
// averages the n−F lowest-scored updates instead (multi-Krum).
type Krum struct {
	F     int
	Multi bool
}

func (k Krum) String() string { return "krum:" + strconv.Itoa(k.F) }

// Aggregate returns the selected update (or the mean of the selected ones)
// and the indexes selected.
func (k Krum) Aggregate(updates []Update) ([]float64, []int, error) {
	d, err := checkUpdates(updates)
	if err != nil {
		return nil, nil, err
	}
	n := len(updates)
	neighbours := n - k.F - 2
	if neighbours < 1 {
		neighbours = min(1, n-1)
	}
	scores := make([]float64, n)
	dist := make([]float64, 0, n)
	for i := range updates {
		dist = dist[:0]
		for j := range updates {
			if i != j {
				dist = append(dist, sqDist(updates[i].Delta, updates[j].Delta))
			}
		}
		sort.Float64s(dist)
		for _, x := range dist[:min(neighbours, len(dist))] {
			scores[i] += x
		}
	}
	order := allIndexes(n)
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case scores[a] < scores[b]:
			return -1
		case scores[a] > scores[b]:
			return 1
		}
		return 0
	})
	m := 1
	if k.Multi {
		m = max(n-k.F, 1)
	}
	chosen := order[:m]
	out := make([]float64, d)
	for _, i := range chosen {
		for j, x := range updates[i].Delta {
			out[j] += x / float64(m)
		}
	}
	used := slices.Clone(chosen)
	slices.Sort(used)
	return out, used, nil
}

func sqDist(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		d := a[i] - b[i]
		s += d * d
	}
	return s
}
