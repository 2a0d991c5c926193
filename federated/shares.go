package federated

import (
	"errors"
	"math"
	"sort"
)

// Shares turns a round's updates into contribution shares that sum to 1:
// each update's share is proportional to its sample count times its
// alignment (cosine, floored at 0) with the aggregate. A flagged update
// earns nothing. If no update aligns, the unflagged ones share by samples.
func Shares(updates []Update, aggregate []float64, flagged []bool) ([]float64, error) {
	if _, err := checkUpdates(updates); err != nil {
		return nil, err
	}
	if len(flagged) != len(updates) {
		return nil, errors.New("shares: one flag per update is needed")
	}
	n := len(updates)
	raw := make([]float64, n)
	aggNorm := norm(aggregate)
	total := 0.0
	for i, u := range updates {
		if flagged[i] {
			continue
		}
		align := 1.0
		if un := norm(u.Delta); aggNorm > 0 && un > 0 {
			align = math.Max(0, dot(u.Delta, aggregate)/(un*aggNorm))
		}
		raw[i] = float64(max(u.Samples, 1)) * align
		total += raw[i]
	}
	if total == 0 {
		for i, u := range updates {
			if !flagged[i] {
				raw[i] = float64(max(u.Samples, 1))
				total += raw[i]
			}
		}
	}
	if total == 0 {
		return raw, nil // every update flagged: nobody earns
	}
	for i := range raw {
		raw[i] /= total
	}
	return raw, nil
}

// Payouts splits pool (integer minor units) by shares, exactly: every unit
// goes to someone, by the largest-remainder method, and money never passes
// through a float that could lose a cent. Ties go to the lower index.
func Payouts(pool int64, shares []float64) []int64 {
	out := make([]int64, len(shares))
	if pool <= 0 || len(shares) == 0 {
		return out
	}
	total := 0.0
	for _, s := range shares {
		total += math.Max(s, 0)
	}
	if total == 0 {
		return out
	}
	type rem struct {
		i int
		r float64
	}
	rems := make([]rem, 0, len(shares))
	given := int64(0)
	for i, s := range shares {
		exact := float64(pool) * math.Max(s, 0) / total
		out[i] = int64(math.Floor(exact))
		given += out[i]
		if s > 0 {
			rems = append(rems, rem{i, exact - math.Floor(exact)})
		}
	}
	sort.SliceStable(rems, func(a, b int) bool { return rems[a].r > rems[b].r })
	for k := 0; given < pool && len(rems) > 0; k = (k + 1) % len(rems) {
		out[rems[k].i]++
		given++
	}
	return out
}
