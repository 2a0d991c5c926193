package federated

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trove-project/trove/compute"
	"github.com/trove-project/trove/dataset"
)

// shardMoments deals t's rows to vaults by split (seeded) and returns
// each shard's moments as the built-in computes them at a vault.
func shardMoments(t *testing.T, tab *dataset.Table, label string, classes, vaults int, splitSpec string, seed uint64) []vaultMoments {
	t.Helper()
	labels, k, err := tableLabels(tab, label, classes)
	if err != nil {
		t.Fatal(err)
	}
	parts, err := split(splitSpec, labels, vaults, rand.New(rand.NewPCG(seed, 2)))
	if err != nil {
		t.Fatal(err)
	}
	var out []vaultMoments
	for _, rows := range parts {
		out = append(out, tableMoments(t, tab.Take(rows), label, k))
	}
	return out
}

// tableMoments returns tab's moments as the built-in computes them at a
// vault.
func tableMoments(t *testing.T, tab *dataset.Table, label string, classes int) vaultMoments {
	t.Helper()
	p := map[string]any{"target": label, "moments": true}
	if tab.Column(label).Kind != dataset.Categorical {
		p["classes"] = classes
	}
	raw, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	res, err := compute.RunBuiltin(context.Background(), compute.LogRegTrainID, compute.Input{JobID: "m", Table: tab, Params: raw})
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Samples     int
		Sums, Sumsq []float64
	}
	if err := json.Unmarshal(res.Result, &m); err != nil {
		t.Fatal(err)
	}
	return vaultMoments{Samples: m.Samples, Sums: m.Sums, Sumsq: m.Sumsq}
}

// plainPool is the pooled mean and deviation of every vault's moments,
// as the coordinator computed them before it pooled robustly.
func plainPool(ms []vaultMoments) (center, scale []float64) {
	d := len(ms[0].Sums)
	sums, sumsq := make([]float64, d), make([]float64, d)
	n := 0
	for _, m := range ms {
		for j := range d {
			sums[j] += m.Sums[j]
			sumsq[j] += m.Sumsq[j]
		}
		n += m.Samples
	}
	center, scale = make([]float64, d), make([]float64, d)
	for j := range d {
		center[j] = sums[j] / float64(n)
		scale[j] = math.Sqrt(math.Max(0, sumsq[j]/float64(n)-center[j]*center[j]))
		if !(scale[j] > 1e-12) {
			scale[j] = 1
		}
	}
	return center, scale
}

func wine(t testing.TB) *dataset.Table {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "wine.csv"))
	if err != nil {
		t.Fatal(err)
	}
	tab, err := dataset.ReadCSV(bytes.NewReader(b), dataset.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

// Honest vaults are never left out, however the rows are dealt (IID,
// Dirichlet 0.5, one class per vault; and 100 IID vaults of 4–5 rows),
// and their moments pool exactly to the plain pooled mean and deviation
// (unless Dirichlet dealt a vault over 4 times the median count, which is
// capped).
func TestPoolMomentsKeepsHonestVaults(t *testing.T) {
	bc, wine := breastCancer(t), wine(t)
	type config struct {
		name   string
		tab    *dataset.Table
		label  string
		vaults int
		splits []string
	}
	nonIID := []string{"iid", "dirichlet:0.5", "one-class"}
	for _, data := range []config{
		{"breast_cancer", bc, bcLabel, 10, nonIID},
		{"breast_cancer", bc, bcLabel, 100, []string{"iid"}},
		{"wine", wine, "cultivar", 5, nonIID},
		{"wine", wine, "cultivar", 10, nonIID},
	} {
		for _, spec := range data.splits {
			for seed := range uint64(5) {
				name := fmt.Sprintf("%s, %d vaults, %s, seed %d", data.name, data.vaults, spec, seed)
				ms := shardMoments(t, data.tab, data.label, 0, data.vaults, spec, seed)
				center, scale, verdicts, err := poolMoments(ms)
				if err != nil {
					t.Fatal(err)
				}
				capped := false
				for i, v := range verdicts {
					if v.Flagged {
						t.Errorf("%s: honest vault %d (%d rows) left out: %+v", name, i, ms[i].Samples, v)
					}
					capped = capped || v.Capped
				}
				if capped {
					continue // Dirichlet deals some vaults over 4 times the median count
				}
				wantC, wantS := plainPool(ms)
				if !slices.Equal(center, wantC) || !slices.Equal(scale, wantS) {
					t.Errorf("%s: pooled %v %v, plain %v %v", name, center, scale, wantC, wantS)
				}
			}
		}
	}
}

// One lying vault of ten is left out, with the feature that gave it away,
// and the pool is that of the nine honest vaults; one that claims a
// thousand times its rows (with sums to match) counts for four times the
// median row count, no more.
func TestPoolMomentsResistsALyingVault(t *testing.T) {
	honest := shardMoments(t, breastCancer(t), bcLabel, 0, 10, "iid", 1)
	const feature = 3 // mean area: large positive values
	for _, c := range []struct {
		name string
		lie  func(m *vaultMoments, sd float64)
	}{
		{"sums ×100", func(m *vaultMoments, _ float64) {
			for j := range m.Sums {
				m.Sums[j] *= 100
			}
		}},
		{"one mean +50 deviations", func(m *vaultMoments, sd float64) {
			n := float64(m.Samples)
			mean := m.Sums[feature] / n
			shifted := mean + 50*sd
			m.Sumsq[feature] += n * (shifted*shifted - mean*mean)
			m.Sums[feature] = shifted * n
		}},
		{"sums of squares ×10⁴", func(m *vaultMoments, _ float64) {
			for j := range m.Sumsq {
				m.Sumsq[j] *= 1e4
			}
		}},
	} {
		ms := cloneMoments(honest)
		_, sd := plainPool(honest)
		c.lie(&ms[4], sd[feature])
		center, scale, verdicts, err := poolMoments(ms)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range verdicts {
			if v.Flagged != (i == 4) {
				t.Fatalf("%s: vault %d: %+v", c.name, i, v)
			}
		}
		if c.name == "one mean +50 deviations" && (verdicts[4].Feature != feature || verdicts[4].Why != "mean out of line") {
			t.Fatalf("%s: flagged for %+v", c.name, verdicts[4])
		}
		wantC, wantS := plainPool(slices.Delete(slices.Clone(honest), 4, 5))
		if !slices.Equal(center, wantC) || !slices.Equal(scale, wantS) {
			t.Fatalf("%s: pooled %v %v, the nine honest vaults %v %v", c.name, center, scale, wantC, wantS)
		}
	}

	ms := cloneMoments(honest)
	m := &ms[4]
	m.Samples *= 1000
	for j := range m.Sums {
		m.Sums[j] *= 1000
		m.Sumsq[j] *= 1000
	}
	center, _, verdicts, err := poolMoments(ms)
	if err != nil {
		t.Fatal(err)
	}
	counts := make([]float64, len(honest))
	for i, h := range honest {
		counts[i] = float64(h.Samples)
	}
	medCount, _ := medianMAD(counts)
	if v := verdicts[4]; v.Flagged || !v.Capped || v.Weight != 4*medCount {
		t.Fatalf("a thousandfold count: %+v (median count %g)", v, medCount)
	}
	// Its rows weigh 4·median: the pooled mean is that of the honest
	// vaults with vault 4's rows counted 4·median/its count times over.
	want := 0.0
	total := 0.0
	for i, h := range honest {
		w := 1.0
		if i == 4 {
			w = 4 * medCount / float64(h.Samples)
		}
		want += w * h.Sums[feature]
		total += w * float64(h.Samples)
	}
	if want /= total; math.Abs(center[feature]-want) > 1e-9*math.Abs(want) {
		t.Fatalf("capped pool: mean %g, want %g", center[feature], want)
	}
}

func cloneMoments(ms []vaultMoments) []vaultMoments {
	out := make([]vaultMoments, len(ms))
	for i, m := range ms {
		out[i] = vaultMoments{Samples: m.Samples, Sums: slices.Clone(m.Sums), Sumsq: slices.Clone(m.Sumsq)}
	}
	return out
}

// Moments that do not add up (NaN, infinite) flag the vault rather than
// poison the pool; with two vaults there is no majority and nothing is
// flagged.
func TestPoolMomentsEdges(t *testing.T) {
	honest := shardMoments(t, breastCancer(t), bcLabel, 0, 5, "iid", 2)
	ms := cloneMoments(honest)
	ms[0].Sums[0] = 1e300
	ms[0].Sumsq[0] = 1e300
	_, _, verdicts, err := poolMoments(ms)
	if err != nil || !verdicts[0].Flagged {
		t.Fatalf("huge sums: %+v, %v", verdicts[0], err)
	}
	two := cloneMoments(honest[:2])
	for j := range two[1].Sums {
		two[1].Sums[j] *= 100
	}
	_, _, verdicts, err = poolMoments(two)
	if err != nil || verdicts[0].Flagged || verdicts[1].Flagged {
		t.Fatalf("two vaults: %+v, %v", verdicts, err)
	}
	if _, _, _, err := poolMoments([]vaultMoments{{Samples: 0, Sums: []float64{1}, Sumsq: []float64{1}}}); err == nil {
		t.Fatal("no rows pooled")
	}
}

// End to end: one of five real vaults holds rows 1,000 times too large
// (a unit gone wrong, or a lie). The coordinator leaves its moments out,
// says so in the round file with the receipt of what it sent, and
// standardises by the four honest vaults.
func TestStandardiseLeavesOutALyingVault(t *testing.T) {
	ctx := context.Background()
	data := breastCancer(t)
	s, err := NewSim(ctx, SimConfig{Data: data, Label: bcLabel, Vaults: 4, Split: "iid", Rounds: 1, Seed: 12, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	all := make([]int, s.Tables[0].Rows)
	for i := range all {
		all[i] = i
	}
	bad := s.Tables[0].Take(all) // a copy
	for i := range bad.Columns {
		c := &bad.Columns[i]
		if c.Name != bcLabel && c.Kind == dataset.Float {
			for r := range c.Floats {
				c.Floats[r] *= 1000
			}
		}
	}
	p, err := s.addVault(ctx, bad)
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.Training
	cfg.RoundFile = filepath.Join(t.TempDir(), "rounds.json")
	var kept []int
	cfg.KeepReceipt = func(round, i int, _ json.RawMessage) error {
		if round == 0 {
			kept = append(kept, i)
		}
		return nil
	}
	co, err := NewCoordinator(cfg, append(slices.Clone(s.Participants), p))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := co.Run(ctx); err != nil {
		t.Fatal(err)
	}
	var st State
	b, err := os.ReadFile(cfg.RoundFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	slices.Sort(kept)
	if len(st.Moments) != 5 || !slices.Equal(kept, []int{0, 1, 2, 3, 4}) {
		t.Fatalf("moments %+v, receipts kept %v", st.Moments, kept)
	}
	for i, m := range st.Moments {
		wantStatus := StatusUsed
		if i == 4 {
			wantStatus = StatusFlagged
		}
		if m.Status != wantStatus || m.Index != i || m.Vault != p.DID() && i == 4 || m.ReceiptID == "" || m.JobID == "" || m.LogIndex == 0 || m.IssuedAt == "" || m.Samples == 0 {
			t.Fatalf("vault %d: %+v", i, m)
		}
		if i == 4 && (m.Feature == "" || m.Reason == "" || m.Weight != 0) {
			t.Fatalf("the lying vault: %+v", m)
		}
	}
	// Round 0 is paid by what the pool made of each answer: the lying
	// vault's claim settles at nothing, flagged; the four used share a
	// pool of four prices.
	claims := vaultClaims(t, s)
	if c := claims[st.Moments[4].ClaimID]; c.Settled == nil || *c.Settled != 0 || st.Moments[4].Payout != 0 {
		t.Fatalf("the lying vault's round-0 claim: %+v", c)
	}
	checkSettled(t, "lying vault", 0, st.Moments, 4, cfg.Price, claims)
	var honest []vaultMoments
	for _, tab := range s.Tables[:4] {
		honest = append(honest, tableMoments(t, tab, bcLabel, 2))
	}
	center, scale := plainPool(honest)
	for j := range center {
		if math.Abs(st.Model.Center[j]-center[j]) > 1e-9*math.Abs(center[j])+1e-12 || math.Abs(st.Model.Scale[j]-scale[j]) > 1e-6*scale[j] {
			t.Fatalf("feature %d: standardised by %g, %g; the honest vaults' %g, %g", j, st.Model.Center[j], st.Model.Scale[j], center[j], scale[j])
		}
	}
}

func TestParseMomentsResult(t *testing.T) {
	good := `{"algorithm":"builtin:logreg-train@1","features":["a","b"],"samples":3,"sums":[1,2],"sumsq":[3,4]}`
	m, fs, reason := parseMomentsResult([]byte(good), nil)
	if reason != "" || m.Samples != 3 || !slices.Equal(fs, []string{"a", "b"}) || !slices.Equal(m.Sumsq, []float64{3, 4}) {
		t.Fatalf("%+v %v %q", m, fs, reason)
	}
	for bad, want := range map[string]string{
		``:   "moments_malformed",
		`[]`: "moments_malformed",
		`{"features":["a"],"samples":0,"sums":[1],"sumsq":[1]}`:         "moments_malformed",
		`{"features":["a"],"samples":1,"sums":[1,2],"sumsq":[1]}`:       "moments_malformed",
		`{"features":[],"samples":1,"sums":[],"sumsq":[]}`:              "moments_malformed",
		`{"features":["a"],"samples":1,"sums":[1e301],"sumsq":[1]}`:     "moments_out_of_range",
		`{"features":["a"],"samples":1,"sums":[1],"sumsq":[-1]}`:        "moments_out_of_range",
		`{"features":["b","a"],"samples":1,"sums":[1,1],"sumsq":[1,1]}`: "other_features",
	} {
		if _, _, reason := parseMomentsResult([]byte(bad), []string{"a", "b"}); reason != want {
			t.Errorf("%s: reason %q, want %q", bad, reason, want)
		}
	}
	// Over MaxResultBytes is refused, however well formed.
	big := good[:len(good)-1] + strings.Repeat(" ", MaxResultBytes) + "}"
	if _, _, reason := parseMomentsResult([]byte(big), nil); reason != "moments_malformed" {
		t.Errorf("a result of %d bytes: reason %q", len(big), reason)
	}
}

// FuzzMoments feeds a vault's moments result, as a liar could write it, to
// the parser and then to the pool beside four honest vaults: nothing
// panics, and what is pooled is a finite mean and a positive finite
// deviation, or the liar is left out.
func FuzzMoments(f *testing.F) {
	f.Add([]byte(`{"features":["a","b"],"samples":3,"sums":[1,2],"sumsq":[3,4]}`))
	f.Add([]byte(`{"features":["a","b"],"samples":9000000000,"sums":[1e299,-1e299],"sumsq":[1e299,0]}`))
	f.Add([]byte(`{"features":["a","b"],"samples":1,"sums":[0,0],"sumsq":[0,0]}`))
	honest := []vaultMoments{
		{Samples: 40, Sums: []float64{40, 80}, Sumsq: []float64{80, 200}},
		{Samples: 45, Sums: []float64{47, 88}, Sumsq: []float64{95, 210}},
		{Samples: 38, Sums: []float64{36, 79}, Sumsq: []float64{70, 199}},
		{Samples: 50, Sums: []float64{52, 101}, Sumsq: []float64{105, 250}},
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, _, reason := parseMomentsResult(b, []string{"a", "b"})
		if reason != "" {
			return
		}
		center, scale, verdicts, err := poolMoments(append(cloneMoments(honest), m))
		if err != nil {
			t.Fatalf("pool: %v", err)
		}
		for j := range center {
			if math.IsNaN(center[j]) || math.IsInf(center[j], 0) || !(scale[j] > 0) || math.IsInf(scale[j], 0) {
				if !verdicts[4].Flagged {
					t.Fatalf("feature %d pooled to %g, %g with the liar kept: %+v", j, center[j], scale[j], verdicts[4])
				}
			}
		}
		for i, v := range verdicts[:4] {
			if v.Flagged {
				t.Fatalf("honest vault %d left out because of %s", i, b)
			}
		}
	})
}
