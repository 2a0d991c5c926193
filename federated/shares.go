package federated

import (
	"cmp"
	"errors"
	"math"
	"math/bits"
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

// ShareUnits is the resolution of the shares Contribution credentials
// state: whole multiples of 1/ShareUnits (10^-12). Such a share, written as
// the shortest decimal of its float64, is exactly the share paid.
const ShareUnits = 1_000_000_000_000

// Split turns shares (any non-negative weights) into exact shares — whole
// multiples of 1/ShareUnits that sum to exactly 1, or all 0 when no weight
// is positive — and splits pool (integer minor units) by them: each payout
// is its exact share of the pool rounded down or up by the largest-
// remainder method (ties to the lower index), and the payouts sum to pool
// whenever some share is positive. So a payout is always within one minor
// unit of its stated share of the pool (consent.PayoutOfShare), and money
// never passes through a float.
func Split(pool int64, shares []float64) (exact []float64, pay []int64) {
	units := shareUnits(shares)
	exact = make([]float64, len(shares))
	pay = make([]int64, len(shares))
	if pool < 0 {
		pool = 0
	}
	rems := make([]uint64, len(shares))
	var given int64
	for i, u := range units {
		exact[i] = float64(u) / ShareUnits
		// pool × u < 2^63 × 10^12: hi < 10^12, so the division fits.
		hi, lo := bits.Mul64(uint64(pool), u)
		q, r := bits.Div64(hi, lo, ShareUnits)
		pay[i], rems[i] = int64(q), r
		given += pay[i]
	}
	order := byRemainder(rems)
	for k := 0; given < pool && k < len(order) && rems[order[k]] > 0; k++ {
		pay[order[k]]++
		given++
	}
	return exact, pay
}

// shareUnits turns weights into whole units of 1/ShareUnits that sum to
// ShareUnits (largest remainder, ties to the lower index), or to 0 when no
// weight is positive. The floors never sum over ShareUnits: the float
// error of the normalised weights is far below one unit.
func shareUnits(shares []float64) []uint64 {
	out := make([]uint64, len(shares))
	total := 0.0
	for _, s := range shares {
		if s > 0 && !math.IsInf(s, 0) {
			total += s
		}
	}
	if !(total > 0) || math.IsInf(total, 0) {
		return out
	}
	rems := make([]float64, len(shares))
	var given uint64
	for i, s := range shares {
		if !(s > 0) || math.IsInf(s, 0) {
			continue
		}
		exact := math.Min(ShareUnits, s/total*ShareUnits)
		out[i] = uint64(math.Floor(exact))
		rems[i] = exact - math.Floor(exact)
		given += out[i]
	}
	order := byRemainder(rems)
	for k := 0; given < ShareUnits && k < len(order); k++ {
		if shares[order[k]] > 0 {
			out[order[k]]++
			given++
		}
	}
	return out
}

// byRemainder returns the indexes of rems, largest remainder first, ties
// to the lower index: the order in which the largest-remainder method
// hands out the units the floors left over.
func byRemainder[T cmp.Ordered](rems []T) []int {
	order := make([]int, len(rems))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return rems[order[a]] > rems[order[b]] })
	return order
}
