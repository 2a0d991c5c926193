package compute

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/trove-project/trove/dataset"
)

// regressionTable has features a, b, a label y = 2a − 3b + 5 (plus tiny
// noise), a binary class (y > 5) and a three-way class.
func regressionTable(rows int) *dataset.Table {
	rng := rand.New(rand.NewPCG(7, 8))
	t := &dataset.Table{Rows: rows, Columns: []dataset.Column{
		{Name: "a", Kind: dataset.Float, Floats: make([]float64, rows)},
		{Name: "b", Kind: dataset.Float, Floats: make([]float64, rows)},
		{Name: "y", Kind: dataset.Float, Floats: make([]float64, rows)},
		{Name: "pos", Kind: dataset.Categorical, Codes: make([]uint32, rows), Levels: []string{"no", "yes"}},
		{Name: "tri", Kind: dataset.Integer, Ints: make([]int64, rows)},
	}}
	for i := range rows {
		a, b := rng.NormFloat64(), rng.NormFloat64()
		y := 2*a - 3*b + 5 + 1e-6*rng.NormFloat64()
		t.Columns[0].Floats[i], t.Columns[1].Floats[i], t.Columns[2].Floats[i] = a, b, y
		if y > 5 {
			t.Columns[3].Codes[i] = 1
		}
		switch {
		case a > 0.5:
			t.Columns[4].Ints[i] = 2
		case a < -0.5:
			t.Columns[4].Ints[i] = 0
		default:
			t.Columns[4].Ints[i] = 1
		}
	}
	return t
}

func TestLinReg(t *testing.T) {
	tab := regressionTable(200)
	out, err := RunBuiltin(context.Background(), LinRegID, Input{JobID: "j", Table: tab, Params: json.RawMessage(`{"target":"y","features":["a","b"]}`)})
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Coefficients []float64
		Intercept    float64
		N            int
		R2           float64
	}
	if err := json.Unmarshal(out.Result, &res); err != nil {
		t.Fatal(err)
	}
	if res.N != 200 || math.Abs(res.Coefficients[0]-2) > 1e-4 || math.Abs(res.Coefficients[1]+3) > 1e-4 || math.Abs(res.Intercept-5) > 1e-4 || res.R2 < 0.999999 {
		t.Fatalf("fit %s", out.Result)
	}
	for _, bad := range []string{`{}`, `{"target":"pos"}`, `{"target":"y","features":["pos"]}`, `{"target":"y","features":["y"]}`,
		`{"target":"y","features":["a","a"]}`, `{"target":"nope"}`, `{"target":"y","extra":1}`} {
		if _, err := RunBuiltin(context.Background(), LinRegID, Input{JobID: "j", Table: tab, Params: json.RawMessage(bad)}); !errors.Is(err, ErrBadParams) {
			t.Errorf("params %s: %v, want ErrBadParams", bad, err)
		}
	}
}

type logregResult struct {
	Classes  []string
	Features []string
	Update   []float64
	Samples  float64
	Loss     float64
}

func trainLogReg(t *testing.T, tab *dataset.Table, params string) logregResult {
	t.Helper()
	out, err := RunBuiltin(context.Background(), LogRegTrainID, Input{JobID: "j", Table: tab, Params: json.RawMessage(params)})
	if err != nil {
		t.Fatal(err)
	}
	var res logregResult
	if err := json.Unmarshal(out.Result, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

func TestLogRegTrain(t *testing.T) {
	tab := regressionTable(300)
	for _, opt := range []string{"sgd", "lbfgs"} {
		res := trainLogReg(t, tab, `{"target":"pos","features":["a","b"],"epochs":20,"optimizer":"`+opt+`"}`)
		if len(res.Update) != 3 || res.Samples != 300 || len(res.Classes) != 2 {
			t.Fatalf("%s: %+v", opt, res)
		}
		// From zero weights the loss is ln 2; a separable set trains well below it.
		if res.Loss > 0.3 {
			t.Errorf("%s: loss %g after 20 epochs", opt, res.Loss)
		}
		// The boundary is 2a − 3b = 0: the weights point that way.
		if !(res.Update[0] > 0 && res.Update[1] < 0) {
			t.Errorf("%s: update %v", opt, res.Update)
		}
	}
	// Multinomial on an integer target: three rows of weights; training
	// from the previous update continues.
	res := trainLogReg(t, tab, `{"target":"tri","classes":3,"features":["a","b"],"epochs":10}`)
	if len(res.Update) != 9 || res.Loss > math.Log(3) {
		t.Fatalf("multinomial: %+v", res)
	}
	w, _ := json.Marshal(res.Update)
	again := trainLogReg(t, tab, `{"target":"tri","classes":3,"features":["a","b"],"epochs":10,"weights":`+string(w)+`}`)
	if again.Loss >= res.Loss {
		t.Errorf("continued training: loss %g, before %g", again.Loss, res.Loss)
	}
	// Same job, same update: SGD's shuffling is seeded from the job id.
	if a, b := trainLogReg(t, tab, `{"target":"pos","epochs":2}`), trainLogReg(t, tab, `{"target":"pos","epochs":2}`); a.Update[0] != b.Update[0] {
		t.Errorf("two runs of one job differ: %v, %v", a.Update, b.Update)
	}
	for _, bad := range []string{`{}`, `{"target":"tri"}`, `{"target":"tri","classes":1}`, `{"target":"pos","classes":2}`, `{"target":"pos","epochs":0}`,
		`{"target":"pos","optimizer":"adam"}`, `{"target":"pos","weights":[1,2]}`, `{"target":"pos","learning_rate":0}`, `{"target":"pos","batch_size":0}`,
		`{"target":"pos","l2":-1}`, `{"target":"pos","clip":-1}`} {
		if _, err := RunBuiltin(context.Background(), LogRegTrainID, Input{JobID: "j", Table: tab, Params: json.RawMessage(bad)}); !errors.Is(err, ErrBadParams) {
			t.Errorf("params %s: %v, want ErrBadParams", bad, err)
		}
	}
}

// FuzzBuiltinParams feeds arbitrary params to every built-in, plain and
// under dp: each either succeeds with one JSON document or fails with a
// precise error, and never panics.
func FuzzBuiltinParams(f *testing.F) {
	for _, seed := range []string{``, `null`, `{}`, `{"bins":3}`, `{"target":"y"}`, `{"target":"pos","epochs":2,"optimizer":"lbfgs"}`,
		`{"target":"tri","classes":3,"weights":[1,2,3]}`, `{"bounds":{"a":[0,1]}}`, `{"target":"pos","clip":1}`, `[1,2]`, `{"bins":1e9}`} {
		f.Add([]byte(seed))
	}
	tab := regressionTable(40)
	f.Fuzz(func(t *testing.T, params []byte) {
		in := Input{JobID: "fuzz", Table: tab, Params: params}
		for _, id := range Builtins() {
			if id == StatsID && len(params) > 0 {
				continue // stats takes no params
			}
			out, err := RunBuiltin(context.Background(), id, in)
			if err == nil && !json.Valid(out.Result) {
				t.Fatalf("%s: invalid JSON %q", id, out.Result)
			}
			if err != nil && !errors.Is(err, ErrBadParams) && !errors.Is(err, ErrBadInput) {
				t.Fatalf("%s: %v", id, err)
			}
			if !HasDP(id) {
				continue
			}
			out, err = RunBuiltinDP(context.Background(), id, in, OutputPolicy{Kind: PolicyDP, Epsilon: 1, Delta: 1e-6}, rand.New(rand.NewPCG(1, 2)))
			if err == nil && !json.Valid(out.Result) {
				t.Fatalf("%s under dp: invalid JSON %q", id, out.Result)
			}
			if err != nil && !errors.Is(err, ErrBadParams) && !errors.Is(err, ErrBadInput) {
				t.Fatalf("%s under dp: %v", id, err)
			}
		}
	})
}
