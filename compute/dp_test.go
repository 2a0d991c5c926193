package compute

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

func TestZCDPConversion(t *testing.T) {
	for _, c := range []struct{ eps, delta float64 }{{0.1, 1e-6}, {1, 1e-5}, {5, 1e-9}} {
		rho := RhoFor(c.eps, c.delta)
		if got := EpsilonOf(rho, c.delta); math.Abs(got-c.eps) > 1e-12*c.eps+1e-15 {
			t.Errorf("EpsilonOf(RhoFor(%g, %g)) = %g", c.eps, c.delta, got)
		}
		// ρ-zCDP implies (ρ + 2√(ρ ln 1/δ), δ): a larger ρ must give more ε.
		if EpsilonOf(rho*1.01, c.delta) <= c.eps {
			t.Errorf("EpsilonOf is not increasing at ρ=%g", rho)
		}
	}
	if got := (OutputPolicy{Kind: PolicyDP, Epsilon: 2}).Rho(); got != 2 {
		t.Errorf("pure 2-DP costs ρ=%g, want ε²/2 = 2", got)
	}
}

func TestOutputPolicyValidate(t *testing.T) {
	for _, p := range []OutputPolicy{
		{Kind: PolicyRelease}, {Kind: PolicyReview}, {Kind: PolicyDP, Epsilon: 1}, {Kind: PolicyDP, Epsilon: 0.5, Delta: 1e-6},
	} {
		if err := p.Validate(); err != nil {
			t.Errorf("%+v: %v", p, err)
		}
	}
	for _, p := range []OutputPolicy{
		{}, {Kind: "publish"}, {Kind: PolicyRelease, Epsilon: 1}, {Kind: PolicyDP}, {Kind: PolicyDP, Epsilon: -1},
		{Kind: PolicyDP, Epsilon: 11}, {Kind: PolicyDP, Epsilon: 1, Delta: 0.5}, {Kind: PolicyDP, Epsilon: math.NaN()},
	} {
		if err := p.Validate(); !errors.Is(err, ErrPolicy) {
			t.Errorf("%+v accepted (%v)", p, err)
		}
	}
}

// The noise on a released count has the scale the result claims, and that
// scale is the one the budget calls for. The tolerance is five standard
// errors of the sample variance: for n draws, sd(s²) ≈ √((μ₄ − σ⁴)/n),
// with μ₄ = 24b⁴, σ² = 2b² for Laplace(b) and μ₄ = 3σ⁴ for a Gaussian.
func TestDPNoiseHasTheClaimedScale(t *testing.T) {
	const n = 4000
	tab := sampleTable(50)
	params := json.RawMessage(`{"bounds":{"x":[-50,100],"n":[-1000,2000]}}`)
	for _, c := range []struct {
		policy    OutputPolicy
		wantScale float64 // for the row count (sensitivity 1), 4 queries: rows, x, n, sex
		variance  func(scale float64) (v, sd float64)
	}{
		{OutputPolicy{Kind: PolicyDP, Epsilon: 1}, 4, func(b float64) (float64, float64) {
			return 2 * b * b, b * b * math.Sqrt(20.0/n)
		}},
		{OutputPolicy{Kind: PolicyDP, Epsilon: 1, Delta: 1e-6}, 1 / math.Sqrt(2*RhoFor(1, 1e-6)/4), func(s float64) (float64, float64) {
			return s * s, s * s * math.Sqrt(2.0/n)
		}},
	} {
		rng := rand.New(rand.NewPCG(1, 2))
		var sum, sumSq, scale float64
		for range n {
			out, err := RunBuiltinDP(context.Background(), StatsID, Input{JobID: "j", Table: tab, Params: params}, c.policy, rng)
			if err != nil {
				t.Fatal(err)
			}
			var res struct {
				DP struct {
					RowsScale float64 `json:"rows_scale"`
				}
				Rows float64
			}
			if err := json.Unmarshal(out.Result, &res); err != nil {
				t.Fatal(err)
			}
			scale = res.DP.RowsScale
			d := res.Rows - 50
			sum += d
			sumSq += d * d
		}
		if math.Abs(scale-c.wantScale) > 1e-9*c.wantScale {
			t.Errorf("%+v: claimed scale %g, want %g", c.policy, scale, c.wantScale)
		}
		mean := sum / n
		variance := sumSq/n - mean*mean
		want, sd := c.variance(scale)
		if math.Abs(variance-want) > 5*sd {
			t.Errorf("%+v: noise variance %g, want %g ± %g", c.policy, variance, want, 5*sd)
		}
		if math.Abs(mean) > 5*math.Sqrt(want/n) {
			t.Errorf("%+v: noise mean %g, want 0 ± %g", c.policy, mean, 5*math.Sqrt(want/n))
		}
	}
}

func TestDPStatsReleasesOnlyWhatIsBounded(t *testing.T) {
	tab := sampleTable(20)
	pol := OutputPolicy{Kind: PolicyDP, Epsilon: 1}
	rng := rand.New(rand.NewPCG(3, 4))
	out, err := RunBuiltinDP(context.Background(), StatsID, Input{JobID: "j", Table: tab, Params: json.RawMessage(`{"bounds":{"x":[0,1]}}`)}, pol, rng)
	if err != nil {
		t.Fatal(err)
	}
	var res struct{ Columns []struct{ Name string } }
	if err := json.Unmarshal(out.Result, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Columns) != 2 || res.Columns[0].Name != "x" || res.Columns[1].Name != "sex" {
		t.Fatalf("released %s", out.Result)
	}
	for _, bad := range []string{`{"bounds":{"nope":[0,1]}}`, `{"bounds":{"x":[1,0]}}`, `{"bounds":{"sex":[0,1]}}`, `{"bounds":{"x":[0,1e300]}}`, `{"other":1}`} {
		if _, err := RunBuiltinDP(context.Background(), StatsID, Input{JobID: "j", Table: tab, Params: json.RawMessage(bad)}, pol, rng); !errors.Is(err, ErrBadParams) {
			t.Errorf("params %s: %v, want ErrBadParams", bad, err)
		}
	}
	if _, err := RunBuiltinDP(context.Background(), "builtin:linreg@1", Input{JobID: "j", Table: tab}, pol, rng); !errors.Is(err, ErrPolicy) {
		t.Errorf("linreg under dp: %v, want ErrPolicy", err)
	}
	if _, err := RunBuiltinDP(context.Background(), StatsID, Input{JobID: "j", Table: tab}, OutputPolicy{Kind: PolicyRelease}, rng); !errors.Is(err, ErrPolicy) {
		t.Errorf("release policy: %v, want ErrPolicy", err)
	}
}

func TestHistogram(t *testing.T) {
	tab := sampleTable(30)
	out, err := RunBuiltin(context.Background(), HistogramID, Input{JobID: "j", Table: tab, Params: json.RawMessage(`{"bins":4,"bounds":{"x":[-40,0]}}`)})
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Rows    int
		Columns []struct {
			Name    string
			Edges   []float64
			Counts  []float64
			Missing float64
			Levels  map[string]float64
		}
	}
	if err := json.Unmarshal(out.Result, &res); err != nil {
		t.Fatal(err)
	}
	if res.Rows != 30 || len(res.Columns) != 4 {
		t.Fatalf("result %s", out.Result)
	}
	x := res.Columns[0]
	want := make([]float64, 4)
	for _, v := range tab.Columns[0].Floats {
		k := int(math.Floor((v + 40) / 10))
		want[min(max(k, 0), 3)]++
	}
	for k := range want {
		if x.Counts[k] != want[k] {
			t.Fatalf("x counts %v, want %v", x.Counts, want)
		}
	}
	if len(x.Edges) != 5 || x.Edges[0] != -40 || x.Edges[4] != 0 {
		t.Errorf("edges %v", x.Edges)
	}
	if s := res.Columns[3].Levels; s["F"]+s["M"]+s["X"] != 30 {
		t.Errorf("levels %v", s)
	}
	for _, bad := range []string{`{"bins":0}`, `{"bins":1001}`, `{"bins":"3"}`, `{"bounds":{"x":[2,2]}}`, `{"binz":3}`} {
		if _, err := RunBuiltin(context.Background(), HistogramID, Input{JobID: "j", Table: tab, Params: json.RawMessage(bad)}); !errors.Is(err, ErrBadParams) {
			t.Errorf("params %s: %v, want ErrBadParams", bad, err)
		}
	}
}
