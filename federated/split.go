package federated

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"

	"gonum.org/v1/gonum/stat/distuv"
)

// SplitIID deals n rows to k vaults at random, as evenly as possible.
func SplitIID(n, k int, rng *rand.Rand) ([][]int, error) {
	if k < 1 || n < k {
		return nil, fmt.Errorf("split %d rows over %d vaults: need at least one row per vault", n, k)
	}
	rows := rng.Perm(n)
	out := make([][]int, k)
	for i, r := range rows {
		out[i%k] = append(out[i%k], r)
	}
	for _, part := range out {
		slices.Sort(part)
	}
	return out, nil
}

// SplitDirichlet gives each vault a class mix drawn from a Dirichlet
// distribution with concentration alpha: small alpha, lopsided vaults
// (the usual model of non-IID federated data). Every vault gets at least
// one row.
func SplitDirichlet(labels []int, k int, alpha float64, rng *rand.Rand) ([][]int, error) {
	if k < 1 || len(labels) < k {
		return nil, fmt.Errorf("split %d rows over %d vaults: need at least one row per vault", len(labels), k)
	}
	if !(alpha > 0) {
		return nil, errors.New("dirichlet split: alpha must be positive")
	}
	byClass := groupByClass(labels)
	// A Dirichlet draw is k independent Gamma(alpha, 1) draws, normalised.
	gamma := distuv.Gamma{Alpha: alpha, Beta: 1, Src: rng}
	p := make([]float64, k)
	out := make([][]int, k)
	for _, c := range sortedKeys(byClass) {
		rows := byClass[c]
		rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
		sum := 0.0
		for v := range p {
			p[v] = gamma.Rand()
			sum += p[v]
		}
		for v := range p {
			if sum > 0 {
				p[v] /= sum
			} else {
				p[v] = 1 / float64(k) // every draw underflowed: no preference
			}
		}
		start := 0
		cum := 0.0
		for v := range k {
			cum += p[v]
			end := int(cum*float64(len(rows)) + 0.5)
			if v == k-1 {
				end = len(rows)
			}
			end = min(max(end, start), len(rows))
			out[v] = append(out[v], rows[start:end]...)
			start = end
		}
	}
	// Give an empty vault one row from the largest, so every vault trains.
	for v := range out {
		if len(out[v]) > 0 {
			continue
		}
		big := 0
		for w := range out {
			if len(out[w]) > len(out[big]) {
				big = w
			}
		}
		last := len(out[big]) - 1
		out[v] = append(out[v], out[big][last])
		out[big] = out[big][:last]
	}
	for _, part := range out {
		slices.Sort(part)
	}
	return out, nil
}

// SplitOneClass gives each vault rows of a single class, the classes
// taken in turn: the most extreme non-IID split.
func SplitOneClass(labels []int, k int) ([][]int, error) {
	byClass := groupByClass(labels)
	classes := sortedKeys(byClass)
	if k < len(classes) {
		return nil, fmt.Errorf("one-class split: %d vaults cannot hold %d classes one each", k, len(classes))
	}
	// Vault v holds class v mod C; the class's rows are dealt among the
	// vaults that hold it.
	out := make([][]int, k)
	for ci, c := range classes {
		var holders []int
		for v := ci; v < k; v += len(classes) {
			holders = append(holders, v)
		}
		for i, r := range byClass[c] {
			v := holders[i%len(holders)]
			out[v] = append(out[v], r)
		}
	}
	for v, part := range out {
		if len(part) == 0 {
			return nil, fmt.Errorf("one-class split: vault %d got no rows", v)
		}
	}
	return out, nil
}

// StratifiedHoldout sets aside about frac of each class as a test set,
// at random, and returns the remaining rows and the test rows.
func StratifiedHoldout(labels []int, frac float64, rng *rand.Rand) (train, test []int, err error) {
	if !(frac > 0 && frac < 1) {
		return nil, nil, errors.New("holdout fraction must be in (0, 1)")
	}
	byClass := groupByClass(labels)
	for _, c := range sortedKeys(byClass) {
		rows := byClass[c]
		rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
		n := int(frac*float64(len(rows)) + 0.5)
		test = append(test, rows[:n]...)
		train = append(train, rows[n:]...)
	}
	slices.Sort(train)
	slices.Sort(test)
	if len(train) == 0 || len(test) == 0 {
		return nil, nil, errors.New("holdout left an empty training or test set")
	}
	return train, test, nil
}

func groupByClass(labels []int) map[int][]int {
	out := map[int][]int{}
	for i, l := range labels {
		out[l] = append(out[l], i)
	}
	return out
}

func sortedKeys(m map[int][]int) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	return keys
}
