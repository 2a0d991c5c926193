package compute

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// Moments are the raw features' sums and sums of squares; training on
// features standardised by them reaches the same boundary; the model the
// update gives scores well on its own rows by LogRegAccuracy.
func TestLogRegMomentsStandardiseAndAccuracy(t *testing.T) {
	tab := regressionTable(300)
	out, err := RunBuiltin(context.Background(), LogRegTrainID, Input{JobID: "m", Table: tab, Params: json.RawMessage(`{"target":"pos","features":["a","b"],"moments":true}`)})
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Samples     int
		Sums, Sumsq []float64
	}
	if err := json.Unmarshal(out.Result, &m); err != nil {
		t.Fatal(err)
	}
	var sum, sq float64
	for _, a := range tab.Columns[0].Floats {
		sum, sq = sum+a, sq+a*a
	}
	if m.Samples != 300 || math.Abs(m.Sums[0]-sum) > 1e-9 || math.Abs(m.Sumsq[0]-sq) > 1e-9 {
		t.Fatalf("moments %+v, want sums[0] %g sumsq[0] %g", m, sum, sq)
	}
	center := []float64{m.Sums[0] / 300, m.Sums[1] / 300}
	scale := []float64{math.Sqrt(m.Sumsq[0]/300 - center[0]*center[0]), math.Sqrt(m.Sumsq[1]/300 - center[1]*center[1])}
	model := LogRegModel{Target: "pos", Features: []string{"a", "b"}, Center: center, Scale: scale}
	params, _ := json.Marshal(map[string]any{"target": "pos", "features": model.Features, "center": center, "scale": scale, "epochs": 30})
	res := trainLogReg(t, tab, string(params))
	model.Weights = res.Update
	ev, err := LogRegAccuracy(model, tab)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Rows != 300 || ev.Accuracy < 0.95 || math.Abs(ev.Accuracy-float64(ev.Correct)/300) > 1e-12 {
		t.Fatalf("accuracy %+v", ev)
	}
	pred, err := LogRegPredict(model, tab)
	if err != nil || len(pred) != 300 {
		t.Fatalf("predict: %d, %v", len(pred), err)
	}
	agree := 0
	for i, p := range pred {
		if p == int(tab.Columns[3].Codes[i]) {
			agree++
		}
	}
	if agree != ev.Correct {
		t.Fatalf("predictions agree on %d rows, accuracy counted %d", agree, ev.Correct)
	}
	// A zero model is a coin toss: accuracy is the share of class 0.
	zero := LogRegModel{Target: "pos", Features: []string{"a", "b"}, Weights: make([]float64, 3)}
	if ev, err := LogRegAccuracy(zero, tab); err != nil || math.Abs(ev.Loss-math.Ln2) > 1e-12 {
		t.Fatalf("zero model: %+v %v", ev, err)
	}
}

func TestLogRegStandardiseRefusesBadParams(t *testing.T) {
	tab := regressionTable(50)
	for _, bad := range []string{
		`{"target":"pos","features":["a","b"],"center":[0,0]}`,
		`{"target":"pos","features":["a","b"],"center":[0],"scale":[1]}`,
		`{"target":"pos","features":["a","b"],"center":[0,0],"scale":[1,0]}`,
		`{"target":"pos","features":["a","b"],"center":[0,0],"scale":[1,-1]}`,
		`{"target":"pos","features":["a","b"],"center":[1e300,0],"scale":[1,1]}`,
		`{"target":"pos","features":["a","b"],"center":[0,0],"scale":[1,1],"moments":true}`,
	} {
		if _, err := RunBuiltin(context.Background(), LogRegTrainID, Input{JobID: "j", Table: tab, Params: json.RawMessage(bad)}); !errors.Is(err, ErrBadParams) {
			t.Errorf("params %s: %v, want ErrBadParams", bad, err)
		}
	}
	in := Input{JobID: "j", Table: tab, Params: json.RawMessage(`{"target":"pos","moments":true,"clip":1}`)}
	if _, err := RunBuiltinDP(context.Background(), LogRegTrainID, in, OutputPolicy{Kind: PolicyDP, Epsilon: 1, Delta: 1e-6}, rand.New(rand.NewPCG(1, 1))); !errors.Is(err, ErrBadParams) {
		t.Fatalf("moments under dp: %v", err)
	}
	if _, err := LogRegAccuracy(LogRegModel{Target: "pos", Weights: []float64{1}}, tab); err == nil {
		t.Fatal("a model of the wrong size scored")
	}
}
