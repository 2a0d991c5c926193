package compute

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/trove-project/trove/dataset"
)

func TestBuiltinRegistry(t *testing.T) {
	if got := Builtins(); !slices.Equal(got, []string{"builtin:histogram@1", "builtin:linreg@1", "builtin:logreg-train@1", "builtin:stats@1"}) {
		t.Errorf("Builtins() = %v", got)
	}
	if !IsBuiltin("builtin:stats@1") || IsBuiltin("builtin:stats@2") || IsBuiltin("") {
		t.Error("IsBuiltin is wrong")
	}
	_, err := RunBuiltin(context.Background(), "builtin:nope@1", Input{Table: sampleTable(1)})
	if !errors.Is(err, ErrUnknownBuiltin) {
		t.Errorf("unknown id: err = %v", err)
	}
}

func TestStats(t *testing.T) {
	tab := &dataset.Table{Rows: 10, Columns: []dataset.Column{
		{Name: "x", Kind: dataset.Float, Floats: []float64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}},
		{Name: "n", Kind: dataset.Integer, Ints: []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{Name: "gaps", Kind: dataset.Float, Floats: []float64{math.NaN(), 4, math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN()}},
		{Name: "c", Kind: dataset.Categorical, Codes: []uint32{0, 1, 1, 2, 2, 2, 0, 1, 2, 2}, Levels: []string{"a", "b", "c", "unused"}},
	}}
	out, err := RunBuiltin(context.Background(), StatsID, Input{JobID: "j", Table: tab})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out.Result, &got); err != nil {
		t.Fatal(err)
	}
	// 1..10: mean 5.5, sample variance 55/6; empirical quantile p is the
	// ceil(p*n)-th smallest value.
	oneToTen := map[string]any{
		"count": 10.0, "mean": 5.5, "std": math.Sqrt(55.0 / 6), "min": 1.0, "max": 10.0,
		"quantiles": map[string]any{"0.05": 1.0, "0.25": 3.0, "0.5": 5.0, "0.75": 8.0, "0.95": 10.0},
	}
	want := map[string]any{
		"algorithm": "builtin:stats@1", "rows": 10.0,
		"columns": []any{
			with(oneToTen, "name", "x", "kind", "float"),
			with(oneToTen, "name", "n", "kind", "integer"),
			map[string]any{"name": "gaps", "kind": "float", "count": 1.0, "mean": 4.0, "std": nil, "min": 4.0, "max": 4.0,
				"quantiles": map[string]any{"0.05": 4.0, "0.25": 4.0, "0.5": 4.0, "0.75": 4.0, "0.95": 4.0}},
			map[string]any{"name": "c", "kind": "categorical", "count": 10.0,
				"levels": map[string]any{"a": 2.0, "b": 3.0, "c": 5.0, "unused": 0.0}},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stats =\n%s\nwant\n%v", out.Result, want)
	}
}

func with(m map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(m)+len(kv)/2)
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

func TestStatsEdges(t *testing.T) {
	tab := &dataset.Table{Rows: 0, Columns: []dataset.Column{{Name: "x", Kind: dataset.Float}}}
	out, err := RunBuiltin(context.Background(), StatsID, Input{Table: tab})
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"algorithm":"builtin:stats@1","rows":0,"columns":[{"name":"x","kind":"float","count":0,"mean":null,"std":null,"min":null,"max":null,"quantiles":null}]}`
	if string(out.Result) != want {
		t.Errorf("empty column: %s\nwant %s", out.Result, want)
	}

	inf := &dataset.Table{Rows: 2, Columns: []dataset.Column{{Name: "x", Kind: dataset.Float, Floats: []float64{1, math.Inf(1)}}}}
	out, err = RunBuiltin(context.Background(), StatsID, Input{Table: inf})
	if err != nil || !json.Valid(out.Result) || !strings.Contains(string(out.Result), `"max":null`) {
		t.Errorf("infinite value: %s, %v", out.Result, err)
	}

	bad := &dataset.Table{Rows: 1, Columns: []dataset.Column{{Name: "c", Kind: dataset.Categorical, Codes: []uint32{7654321}, Levels: []string{"a"}}}}
	_, err = RunBuiltin(context.Background(), StatsID, Input{Table: bad})
	if !errors.Is(err, ErrBadInput) || strings.Contains(err.Error(), "7654321") {
		t.Errorf("code out of range: err = %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := RunBuiltin(ctx, StatsID, Input{Table: sampleTable(3)}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
}
