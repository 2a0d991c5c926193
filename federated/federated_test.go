package federated

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/trove-project/trove/consent"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func TestFedAvgWeightsBySamples(t *testing.T) {
	got, used, err := FedAvg{}.Aggregate([]Update{
		{Delta: []float64{1, 0}, Samples: 1},
		{Delta: []float64{4, 3}, Samples: 3},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !near(got[0], 3.25, 1e-12) || !near(got[1], 2.25, 1e-12) || len(used) != 2 {
		t.Fatalf("fedavg %v %v", got, used)
	}
}

func TestMedianAndTrimmedMeanIgnoreOutliers(t *testing.T) {
	ups := []Update{{Delta: []float64{1}}, {Delta: []float64{2}}, {Delta: []float64{3}}, {Delta: []float64{4}}, {Delta: []float64{1000}}}
	m, _, _ := Median{}.Aggregate(ups)
	if m[0] != 3 {
		t.Fatalf("median %v", m)
	}
	tm, _, _ := TrimmedMean{Fraction: 0.2}.Aggregate(ups)
	if !near(tm[0], 3, 1e-12) {
		t.Fatalf("trimmed mean %v", tm)
	}
	even, _, _ := Median{}.Aggregate(ups[:4])
	if even[0] != 2.5 {
		t.Fatalf("median of four %v", even)
	}
}

func TestKrumChoosesTheHonestCluster(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var ups []Update
	for range 8 {
		ups = append(ups, Update{Delta: []float64{1 + 0.01*rng.NormFloat64(), -1 + 0.01*rng.NormFloat64()}, Samples: 10})
	}
	ups = append(ups, Update{Delta: []float64{50, 50}, Samples: 10}, Update{Delta: []float64{-40, 30}, Samples: 10})
	for _, k := range []Krum{{F: 2}, {F: 2, Multi: true}} {
		got, used, err := k.Aggregate(ups)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(used, 8) || slices.Contains(used, 9) {
			t.Fatalf("%v used an outlier: %v", k, used)
		}
		if !near(got[0], 1, 0.05) || !near(got[1], -1, 0.05) {
			t.Fatalf("%v: %v", k, got)
		}
	}
}

func TestAggregatorsRefuseBadRounds(t *testing.T) {
	for _, a := range []Aggregator{FedAvg{}, Median{}, TrimmedMean{0.1}, Krum{F: 1}} {
		if _, _, err := a.Aggregate(nil); err != ErrNoUpdates {
			t.Errorf("%v on no updates: %v", a, err)
		}
		if _, _, err := a.Aggregate([]Update{{Delta: []float64{1}}, {Delta: []float64{1, 2}}}); err == nil {
			t.Errorf("%v on mixed dimensions succeeded", a)
		}
		if _, _, err := a.Aggregate([]Update{{Delta: []float64{math.NaN()}}}); err == nil {
			t.Errorf("%v on NaN succeeded", a)
		}
	}
}

func TestParseAggregator(t *testing.T) {
	good := map[string]string{"fedavg": "fedavg", "median": "median", "trimmed": "trimmed:0.1", "trimmed:0.2": "trimmed:0.2", "krum:2": "krum:2", "krum": "krum:1"}
	for in, want := range good {
		a, err := ParseAggregator(in)
		if err != nil || a.String() != want {
			t.Errorf("ParseAggregator(%q) = %v, %v; want %s", in, a, err, want)
		}
	}
	for _, bad := range []string{"", "mean", "trimmed:0.5", "trimmed:-1", "trimmed:x", "krum:-1", "krum:x", "fedavg:1", "median:2"} {
		if _, err := ParseAggregator(bad); err == nil {
			t.Errorf("ParseAggregator(%q) succeeded", bad)
		}
	}
}

// honestRound makes n honest updates around a common direction.
func honestRound(rng *rand.Rand, n, dim int) []Update {
	dir := make([]float64, dim)
	for j := range dir {
		dir[j] = rng.NormFloat64()
	}
	ups := make([]Update, n)
	for i := range ups {
		d := make([]float64, dim)
		for j := range d {
			d[j] = dir[j] + 0.3*rng.NormFloat64()
		}
		ups[i] = Update{Delta: d, Samples: 40 + rng.IntN(20)}
	}
	return ups
}

func TestDetectorFlagsPoisonedUpdates(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 7))
		ups := honestRound(rng, 10, 31)
		// Vault 0 flips its update (label flipping), vault 1 scales it by 10.
		for j := range ups[0].Delta {
			ups[0].Delta[j] = -ups[0].Delta[j]
		}
		for j := range ups[1].Delta {
			ups[1].Delta[j] *= 10
		}
		scores, err := Detector{}.Score(ups)
		if err != nil {
			t.Fatal(err)
		}
		if !scores[0].Flagged || !scores[1].Flagged {
			t.Fatalf("seed %d: poisoned updates not flagged: %+v %+v", seed, scores[0], scores[1])
		}
		for i := 2; i < len(scores); i++ {
			if scores[i].Flagged {
				t.Fatalf("seed %d: honest update %d flagged: %+v", seed, i, scores[i])
			}
		}
	}
}

func TestDetectorNeedsAMajority(t *testing.T) {
	scores, err := Detector{}.Score([]Update{{Delta: []float64{1}}, {Delta: []float64{-100}}})
	if err != nil {
		t.Fatal(err)
	}
	if scores[0].Flagged || scores[1].Flagged {
		t.Fatal("flagged with only two updates")
	}
}

func TestSharesAndPayouts(t *testing.T) {
	ups := []Update{{Delta: []float64{1, 0}, Samples: 10}, {Delta: []float64{1, 0}, Samples: 30}, {Delta: []float64{-1, 0}, Samples: 10}, {Delta: []float64{5, 5}, Samples: 50}}
	shares, err := Shares(ups, []float64{1, 0}, []bool{false, false, false, true})
	if err != nil {
		t.Fatal(err)
	}
	if shares[3] != 0 || shares[2] != 0 {
		t.Fatalf("a flagged or opposed update earned: %v", shares)
	}
	if !near(shares[0], 0.25, 1e-12) || !near(shares[1], 0.75, 1e-12) {
		t.Fatalf("shares %v", shares)
	}
	_, pay := Split(1001, shares)
	if pay[0]+pay[1]+pay[2]+pay[3] != 1001 || pay[3] != 0 || pay[1] < pay[0] {
		t.Fatalf("payouts %v", pay)
	}
}

func TestPayoutsAreExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		n := 1 + rng.IntN(12)
		shares := make([]float64, n)
		for i := range shares {
			shares[i] = rng.Float64()
		}
		pool := rng.Int64N(1_000_000)
		_, got := Split(pool, shares)
		var sum int64
		for _, p := range got {
			if p < 0 {
				t.Fatalf("negative payout %v", got)
			}
			sum += p
		}
		if sum != pool {
			t.Fatalf("payouts %v sum to %d, pool %d", got, sum, pool)
		}
	}
	if _, got := Split(100, []float64{0, 0}); got[0] != 0 || got[1] != 0 {
		t.Fatalf("nobody earned but %v", got)
	}
}

func labelsOf(n, classes int, rng *rand.Rand) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = rng.IntN(classes)
	}
	return out
}

// partition checks that parts hold each of n rows exactly once and no
// part is empty.
func partition(t *testing.T, parts [][]int, n int) {
	t.Helper()
	seen := make([]bool, n)
	for v, p := range parts {
		if len(p) == 0 {
			t.Fatalf("vault %d got no rows", v)
		}
		for _, r := range p {
			if seen[r] {
				t.Fatalf("row %d dealt twice", r)
			}
			seen[r] = true
		}
	}
	for r, ok := range seen {
		if !ok {
			t.Fatalf("row %d dealt to no vault", r)
		}
	}
}

func TestSplits(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	labels := labelsOf(500, 3, rng)
	iid, err := SplitIID(len(labels), 10, rng)
	if err != nil {
		t.Fatal(err)
	}
	partition(t, iid, len(labels))
	for _, alpha := range []float64{0.1, 0.5, 100} {
		dir, err := SplitDirichlet(labels, 10, alpha, rng)
		if err != nil {
			t.Fatal(err)
		}
		partition(t, dir, len(labels))
	}
	one, err := SplitOneClass(labels, 6)
	if err != nil {
		t.Fatal(err)
	}
	partition(t, one, len(labels))
	for v, p := range one {
		for _, r := range p {
			if labels[r] != labels[p[0]] {
				t.Fatalf("one-class vault %d holds two classes", v)
			}
		}
	}
	if _, err := SplitOneClass(labels, 2); err == nil {
		t.Fatal("two vaults took three classes")
	}
	if _, err := SplitIID(3, 5, rng); err == nil {
		t.Fatal("five vaults shared three rows")
	}
}

// Small alpha gives lopsided vaults; large alpha gives balanced ones.
func TestDirichletConcentration(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	labels := labelsOf(2000, 2, rng)
	imbalance := func(alpha float64) float64 {
		parts, err := SplitDirichlet(labels, 10, alpha, rng)
		if err != nil {
			t.Fatal(err)
		}
		sum := 0.0
		for _, p := range parts {
			ones := 0
			for _, r := range p {
				ones += labels[r]
			}
			sum += math.Abs(float64(ones)/float64(len(p)) - 0.5)
		}
		return sum / float64(len(parts))
	}
	if lo, hi := imbalance(100), imbalance(0.1); !(lo < 0.1 && hi > 0.25) {
		t.Fatalf("mean class imbalance: alpha=100 %.3f, alpha=0.1 %.3f", lo, hi)
	}
}

func TestStratifiedHoldout(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	labels := labelsOf(1000, 3, rng)
	train, test, err := StratifiedHoldout(labels, 0.2, rng)
	if err != nil {
		t.Fatal(err)
	}
	partition(t, [][]int{train, test}, len(labels))
	count := func(rows []int, c int) int {
		n := 0
		for _, r := range rows {
			if labels[r] == c {
				n++
			}
		}
		return n
	}
	for c := range 3 {
		total := count(train, c) + count(test, c)
		if d := count(test, c) - int(0.2*float64(total)+0.5); d < -1 || d > 1 {
			t.Fatalf("class %d: %d of %d in the test set", c, count(test, c), total)
		}
	}
}

func FuzzParseAggregator(f *testing.F) {
	for _, s := range []string{"fedavg", "median", "trimmed:0.1", "krum:2", "krum:", "trimmed:NaN"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAggregator(s)
		if err != nil {
			return
		}
		b, err := ParseAggregator(a.String())
		if err != nil || b.String() != a.String() {
			t.Fatalf("%q parsed as %v, which does not round-trip", s, a)
		}
	})
}

// Split's payouts sum to the pool and each is within one minor unit of
// its exact share of the pool, as a vault checks it
// (consent.PayoutOfShare); the exact shares sum to 1.
func FuzzSplit(f *testing.F) {
	f.Add(int64(1001), 0.25, 0.75, 0.0, 1e-300)
	f.Add(int64(1)<<55, 1.0/3, 1.0/3, 1.0/3, 0.0)
	f.Add(int64(7), 0.0, 0.0, 0.0, 0.0)
	f.Add(int64(100), math.Inf(1), math.NaN(), -1.0, 5e-324)
	f.Fuzz(func(t *testing.T, pool int64, a, b, c, d float64) {
		if pool < 0 || pool > consent.MaxPool {
			return
		}
		shares := []float64{a, b, c, d}
		exact, pay := Split(pool, shares)
		var sum, units int64
		anyPositive := false
		for i := range shares {
			if pay[i] < 0 || !consent.PayoutOfShare(pay[i], pool, exact[i]) {
				t.Fatalf("Split(%d, %v): payout %d for exact share %v", pool, shares, pay[i], exact[i])
			}
			// The share a credential states (its shortest decimal) is a whole
			// number of units: at most 12 decimals.
			dec := strconv.FormatFloat(exact[i], 'f', -1, 64)
			if _, frac, _ := strings.Cut(dec, "."); len(frac) > 12 {
				t.Fatalf("share %s is not a whole number of units", dec)
			}
			units += int64(math.Round(exact[i] * ShareUnits))
			sum += pay[i]
			anyPositive = anyPositive || exact[i] > 0
		}
		if anyPositive && (units != ShareUnits || sum != pool) {
			t.Fatalf("Split(%d, %v) = %v, %v: units %d, paid %d", pool, shares, exact, pay, units, sum)
		}
		if !anyPositive && sum != 0 {
			t.Fatalf("nobody has a share but %v are paid", pay)
		}
	})
}
