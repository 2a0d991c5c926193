package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/trove-project/trove/api"
	"github.com/trove-project/trove/compute"
	"github.com/trove-project/trove/dataset"
	"github.com/trove-project/trove/federated"
	"github.com/trove-project/trove/internal/sampledata"
	"github.com/trove-project/trove/ledger"
	"github.com/trove-project/trove/vault"
)

// trove train over three real vaults on HTTP: it asks each for consent,
// waits while the owners approve, trains, and writes the model, the
// per-round report, the plot and every receipt.
func TestTrainOverRealVaults(t *testing.T) {
	cfg := testConfig(t)
	mustRun(t, cfg, "requester", "init")
	data, urls, vaults := startTrainingVaults(t, 3, 0)
	out := filepath.Join(t.TempDir(), "out")
	testCSV := writeFile(t, "test.csv", string(sampledata.BreastCancer()))
	type result struct {
		stdout, stderr string
		code           int
	}
	done := make(chan result, 1)
	go func() {
		o, e, code := run(t, cfg, "train", "--vaults", strings.Join(urls, ","), "--dataset", "bc", "--label", "malignant0_benign1",
			"--classes", "2", "--rounds", "3", "--aggregator", "median", "--test", testCSV, "--out", out)
		done <- result{o, e, code}
	}()
	// The owners approve the requests as they arrive.
	approveAll(t, vaults)
	res := <-done
	if res.code != 0 {
		t.Fatalf("trove train: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if !strings.Contains(res.stderr, "round 3/3: 3 of 3 vaults answered") || !strings.Contains(res.stdout, urls[2]) {
		t.Fatalf("progress:\n%s\nsummary:\n%s", res.stderr, res.stdout)
	}
	var model compute.LogRegModel
	readJSON(t, filepath.Join(out, "model.json"), &model)
	ev, err := compute.LogRegAccuracy(model, data)
	if err != nil || ev.Accuracy < 0.9 {
		t.Fatalf("the model scores %+v, %v", ev, err)
	}
	var st federated.State
	readJSON(t, filepath.Join(out, "rounds.json"), &st)
	if len(st.Rounds) != 3 || st.Rounds[2].Accuracy == nil {
		t.Fatalf("report: %d rounds", len(st.Rounds))
	}
	receipts, _ := filepath.Glob(filepath.Join(out, "receipts", "*.json"))
	if len(receipts) != 12 {
		t.Fatalf("%d receipts kept, want 12 (moments and 3 rounds at 3 vaults)", len(receipts))
	}
	if svg, err := os.ReadFile(filepath.Join(out, "plot.svg")); err != nil || !bytes.HasPrefix(svg, []byte("<svg")) {
		t.Fatalf("plot: %v", err)
	}
	// Every claim at every vault — the feature moments' and each round's —
	// is settled by the round's Contribution credential, kept as a file;
	// each round pays the price (10) times the updates.
	if !strings.Contains(res.stderr, "3 of 3 claims settled") || !regexp.MustCompile(`unsettled`).MatchString(res.stdout) || strings.Contains(res.stdout, "not settled yet") {
		t.Fatalf("settlement progress:\n%s\nsummary:\n%s", res.stderr, res.stdout)
	}
	creds, _ := filepath.Glob(filepath.Join(out, "contributions", "*.jwt"))
	if len(creds) != 12 {
		t.Fatalf("%d contribution credentials kept, want 12", len(creds))
	}
	var settledSum int64
	for i, v := range vaults {
		cs, err := v.Claims(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			if c.State != ledger.ClaimStateSettled || c.Share != ledger.ShareContribution || c.Amount != 10 {
				t.Fatalf("vault %d: claim %+v", i, c)
			}
			settledSum += *c.Settled
		}
	}
	if settledSum != 4*3*10 {
		t.Fatalf("the vaults settled %d in all, want 4 rounds × 3 updates × 10", settledSum)
	}
	// A rerun with more rounds resumes from the round file and reuses the
	// consents (each allows rounds + 1 runs: 4 runs, 1 + 3 used).
	o, e, code := run(t, cfg, "train", "--vaults", strings.Join(urls, ","), "--dataset", "bc", "--label", "malignant0_benign1",
		"--classes", "2", "--rounds", "4", "--aggregator", "median", "--out", out, "--quorum", "1")
	if code != 0 || !strings.Contains(e, "round 4/4: 0 of 3") || !strings.Contains(e, "skipped 3: runs_exhausted") || strings.Contains(e, "round 1/4") {
		t.Fatalf("rerun past the consents' runs: exit %d\n%s%s", code, o, e)
	}
	readJSON(t, filepath.Join(out, "rounds.json"), &st)
	if last := st.Rounds[3]; len(st.Rounds) != 4 || last.Quorum || last.Participants[0].Reason != "runs_exhausted" {
		t.Fatalf("round 4: %+v", last)
	}
}

// startTrainingVaults starts n vaults on HTTP, each holding every n-th row
// of breast_cancer as dataset "bc" (with a DP budget of dpBudget when > 0).
func startTrainingVaults(t *testing.T, n int, dpBudget float64) (*dataset.Table, []string, []*vault.Vault) {
	t.Helper()
	ctx := context.Background()
	data, err := dataset.ReadCSV(bytes.NewReader(sampledata.BreastCancer()), dataset.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var urls []string
	var vaults []*vault.Vault
	for i := range n {
		v, err := vault.Create(ctx, vault.Config{Home: filepath.Join(t.TempDir(), "v"), WorkFactor: 10}, []byte("pass"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { v.Close() })
		var rows []int
		for r := i; r < data.Rows; r += n {
			rows = append(rows, r)
		}
		if _, err := v.ImportTable(ctx, "bc", data.Take(rows)); err != nil {
			t.Fatal(err)
		}
		if dpBudget > 0 {
			if _, err := v.SetPrivacy(ctx, "bc", compute.OutputPolicy{Kind: compute.PolicyRelease}, dpBudget, federated.DefaultDelta); err != nil {
				t.Fatal(err)
			}
		}
		srv := api.NewServer(v, "127.0.0.1:0", slog.New(slog.DiscardHandler))
		if err := srv.Open(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close(context.Background()) })
		urls, vaults = append(urls, srv.URL()), append(vaults, v)
	}
	return data, urls, vaults
}

// approveAll approves, as each owner, the consent requests as they arrive,
// one per vault.
func approveAll(t *testing.T, vaults []*vault.Vault) {
	t.Helper()
	ctx := context.Background()
	approved := 0
	deadline := time.Now().Add(time.Minute)
	for approved < len(vaults) && time.Now().Before(deadline) {
		for _, v := range vaults {
			pending, err := v.ConsentRequests(ctx, vault.Pending)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range pending {
				if _, err := v.Approve(ctx, p.ID); err != nil {
					t.Fatal(err)
				}
				approved++
			}
		}
	}
}

// trove train --dp-epsilon asks for the dp output policy; every update is
// private, each vault spends its budget exactly, and the summary says so.
// The features are standardised by the --test file's rows, not by the
// vaults' moments (which have no private form).
func TestTrainWithDP(t *testing.T) {
	cfg := testConfig(t)
	mustRun(t, cfg, "requester", "init")
	_, urls, vaults := startTrainingVaults(t, 3, 1)
	out := filepath.Join(t.TempDir(), "out")
	testCSV := writeFile(t, "test.csv", string(sampledata.BreastCancer()))
	done := make(chan string, 1)
	go func() {
		o, e, code := run(t, cfg, "train", "--vaults", strings.Join(urls, ","), "--dataset", "bc", "--label", "malignant0_benign1",
			"--classes", "2", "--rounds", "2", "--dp-epsilon", "1", "--test", testCSV, "--out", out)
		done <- fmt.Sprintf("%d\n%s\n%s", code, o, e)
	}()
	approveAll(t, vaults)
	res := <-done
	if !strings.HasPrefix(res, "0\n") {
		t.Fatalf("trove train --dp-epsilon: %s", res)
	}
	var st federated.State
	readJSON(t, filepath.Join(out, "rounds.json"), &st)
	for _, r := range st.Rounds {
		for _, p := range r.Participants {
			if p.Status == federated.StatusSkipped || p.Epsilon <= 0 || p.SpentEps > 1+1e-6 {
				t.Fatalf("round %d: %+v", r.Round, p)
			}
		}
	}
	if last := st.Rounds[1].Participants[0].SpentEps; last < 0.99 {
		t.Fatalf("spent ε %g of 1 after the last round", last)
	}
	if !strings.Contains(res, "       1\n") {
		t.Fatalf("summary does not show ε 1:\n%s", res)
	}
	if st.Moments != nil || strings.Contains(res, "not standardised") {
		t.Fatalf("moments asked under dp (%+v), or the standardisation warning shown:\n%s", st.Moments, res)
	}
	test, err := dataset.ReadCSV(bytes.NewReader(sampledata.BreastCancer()), dataset.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	center, scale, _, err := federated.HeldOutMoments(context.Background(), test, "malignant0_benign1", 2)
	if err != nil {
		t.Fatal(err)
	}
	var model compute.LogRegModel
	readJSON(t, filepath.Join(out, "model.json"), &model)
	if !slices.Equal(model.Center, center) || !slices.Equal(model.Scale, scale) {
		t.Fatalf("the model is standardised by %v / %v, not the --test rows' %v / %v", model.Center, model.Scale, center, scale)
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

// trove sim --json prints one object with the keys the issue names.
func TestSimJSON(t *testing.T) {
	cfg := testConfig(t)
	data := writeFile(t, "bc.csv", string(sampledata.BreastCancer()))
	out := mustRun(t, cfg, "sim", "--data", data, "--label", "malignant0_benign1", "--vaults", "4", "--rounds", "2",
		"--poison", "1:label-flip", "--aggregator", "median", "--seed", "3", "--json")
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, k := range []string{"federated_accuracy", "centralized_accuracy", "rounds", "poisoned", "flagged", "epsilon_spent", "seconds_per_round", "honest_update_flag_rate"} {
		if _, ok := res[k]; !ok {
			t.Errorf("no %q in %s", k, out)
		}
	}
	if p, _ := res["poisoned"].([]any); len(p) != 1 {
		t.Errorf("poisoned %v", res["poisoned"])
	}
	table := mustRun(t, cfg, "sim", "--data", data, "--label", "malignant0_benign1", "--vaults", "3", "--rounds", "1", "--no-detector")
	if !strings.Contains(table, "federated accuracy") || !strings.Contains(table, "centralized accuracy") {
		t.Fatalf("table:\n%s", table)
	}
	for _, bad := range [][]string{{"--split", "halves"}, {"--aggregator", "mean"}, {"--poison", "2:flip"}, {"--vaults", "0"}, {"--label", "nope"}, {"--flag-distance", "x"},
		{"--flag-spread", "0"}, {"--flag-distance", "0"}, {"--flag-norm", "-1"}, {"--flag-cosine", "2"}} {
		args := append([]string{"sim", "--data", data, "--label", "malignant0_benign1", "--rounds", "1"}, bad...)
		if _, _, code := run(t, cfg, args...); code == 0 {
			t.Errorf("trove %v succeeded", args)
		}
	}
}

// A training no vault can take part in fails, says why, and writes no
// model.
func TestTrainWithoutVaultsFails(t *testing.T) {
	cfg := testConfig(t)
	mustRun(t, cfg, "requester", "init")
	_, urls, vaults := startTrainingVaults(t, 2, 0)
	out := filepath.Join(t.TempDir(), "out")
	done := make(chan string, 1)
	go func() {
		// An integer label without --classes: every vault's job fails.
		o, e, code := run(t, cfg, "train", "--vaults", strings.Join(urls, ","), "--dataset", "bc", "--label", "malignant0_benign1",
			"--rounds", "1", "--out", out)
		done <- fmt.Sprintf("%d\n%s\n%s", code, o, e)
	}()
	approveAll(t, vaults)
	res := <-done
	if strings.HasPrefix(res, "0\n") || !strings.Contains(res, "cannot standardise (bad_params: 2)") {
		t.Fatalf("trove train without a quorum: %s", res)
	}
	if _, err := os.Stat(filepath.Join(out, "model.json")); !os.IsNotExist(err) {
		t.Fatalf("a model was written: %v", err)
	}
	// DP asked of vaults whose owners set no budget: every round is
	// refused, none reaches a quorum.
	out = filepath.Join(t.TempDir(), "out")
	go func() {
		o, e, code := run(t, cfg, "train", "--vaults", strings.Join(urls, ","), "--dataset", "bc", "--label", "malignant0_benign1",
			"--classes", "2", "--rounds", "1", "--dp-epsilon", "1", "--out", out)
		done <- fmt.Sprintf("%d\n%s\n%s", code, o, e)
	}()
	approveAll(t, vaults)
	res = <-done
	if strings.HasPrefix(res, "0\n") || !strings.Contains(res, "no round reached a quorum") || !strings.Contains(res, "skipped 2: budget_exhausted") {
		t.Fatalf("trove train without a quorum: %s", res)
	}
	if _, err := os.Stat(filepath.Join(out, "model.json")); !os.IsNotExist(err) {
		t.Fatalf("a model was written: %v", err)
	}
}

// Under --dp-epsilon trove sim and trove train take one DP-SGD step per
// round at learning rate 0.5, unless --epochs or --learning-rate say
// otherwise; without it the plain defaults stand.
func TestDPTrainingDefaults(t *testing.T) {
	cfg := testConfig(t)
	for _, mk := range []func(*Config) *cobra.Command{simCmd, trainCmd} {
		for _, c := range []struct {
			args      []string
			epochs    int
			lr        float64
			dpEpsilon float64
		}{
			{nil, 5, 0.1, 0},
			{[]string{"--dp-epsilon", "1"}, 1, 0.5, 1},
			{[]string{"--dp-epsilon", "1", "--epochs", "3"}, 3, 0.5, 1},
			{[]string{"--dp-epsilon", "1", "--learning-rate", "0.2"}, 1, 0.2, 1},
		} {
			cmd := mk(&cfg)
			if err := cmd.ParseFlags(c.args); err != nil {
				t.Fatal(err)
			}
			epochs, err := cmd.Flags().GetInt("epochs")
			if err != nil {
				t.Fatal(err)
			}
			lr, err := cmd.Flags().GetFloat64("learning-rate")
			if err != nil {
				t.Fatal(err)
			}
			if e, l := dpTrainingDefaults(cmd, c.dpEpsilon, epochs, lr); e != c.epochs || l != c.lr {
				t.Errorf("%s %v: epochs %d, learning rate %g; want %d, %g", cmd.Name(), c.args, e, l, c.epochs, c.lr)
			}
		}
	}
}

// One vault behind two --vaults URLs would train and be paid twice: trove
// train refuses it (usage, exit 2) before asking any vault for consent.
func TestTrainRefusesOneVaultTwice(t *testing.T) {
	cfg := testConfig(t)
	mustRun(t, cfg, "requester", "init")
	_, urls, vaults := startTrainingVaults(t, 2, 0)
	out := filepath.Join(t.TempDir(), "out")
	o, e, code := run(t, cfg, "train", "--vaults", urls[0]+","+urls[1]+","+urls[0]+"/", "--dataset", "bc", "--label", "malignant0_benign1",
		"--classes", "2", "--rounds", "1", "--out", out)
	if code != 2 || !strings.Contains(e, "are the same vault") {
		t.Fatalf("trove train with one vault twice: exit %d\n%s%s", code, o, e)
	}
	for i, v := range vaults {
		if reqs, err := v.ConsentRequests(context.Background(), ""); err != nil || len(reqs) != 0 {
			t.Fatalf("vault %d was asked for consent %d times (%v)", i, len(reqs), err)
		}
	}
}
