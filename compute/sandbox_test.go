package compute

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/trove-project/trove/dataset"
	"github.com/trove-project/trove/examples"
	"github.com/trove-project/trove/internal/wasmtest"
)

func TestRunColStats(t *testing.T) {
	s := newTestSandbox(t, nil)
	tab := sampleTable(103)
	out, err := s.Run(context.Background(), examples.ColStats(), Input{JobID: "job-1", Table: tab})
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Algorithm string
		Rows      int
		Columns   []struct {
			Name           string
			Count          int
			Mean, Min, Max float64
		}
	}
	if err := json.Unmarshal(out.Result, &res); err != nil {
		t.Fatal(err)
	}
	if res.Algorithm != "colstats" || res.Rows != 103 || len(res.Columns) != 3 {
		t.Fatalf("result = %s", out.Result)
	}
	for i, got := range res.Columns {
		c := &tab.Columns[i]
		var sum float64
		lo, hi := math.Inf(1), math.Inf(-1)
		for j := range c.Len() {
			v := c.Float64(j)
			sum += v
			lo, hi = min(lo, v), max(hi, v)
		}
		mean := sum / float64(c.Len())
		if got.Name != c.Name || got.Count != 103 || got.Min != lo || got.Max != hi {
			t.Errorf("column %d = %+v, want %s count 103 min %v max %v", i, got, c.Name, lo, hi)
		}
		if math.Abs(got.Mean-mean) > 1e-9*max(1, math.Abs(mean)) {
			t.Errorf("column %s: mean %v, native %v", c.Name, got.Mean, mean)
		}
	}
	if out.ExitCode != 0 || len(out.Stderr) != 0 {
		t.Errorf("exit code %d, stderr %q", out.ExitCode, out.Stderr)
	}
}

// hostileRun runs the hostile module in the given mode.
func hostileRun(t *testing.T, s *Sandbox, jobID, mode string) (*Output, error) {
	t.Helper()
	params, _ := json.Marshal(map[string]string{"mode": mode})
	return s.Run(context.Background(), testModule(t, "hostile"), Input{JobID: jobID, Table: sampleTable(5), Params: params})
}

func TestRunHostile(t *testing.T) {
	s := newTestSandbox(t, func(c *Config) { c.MaxStderr = 1000 })
	t.Run("output flood", func(t *testing.T) {
		_, err := hostileRun(t, s, "j", "flood")
		if !errors.Is(err, ErrOutputTooLarge) {
			t.Fatalf("err = %v, want ErrOutputTooLarge", err)
		}
	})
	t.Run("stderr flood", func(t *testing.T) {
		out, err := hostileRun(t, s, "j", "stderr")
		if !errors.Is(err, ErrBadOutput) {
			t.Fatalf("err = %v, want ErrBadOutput (the module gives up and writes nothing)", err)
		}
		if len(out.Stderr) != 1000 {
			t.Errorf("kept %d bytes of stderr, want 1000", len(out.Stderr))
		}
	})
	t.Run("exit", func(t *testing.T) {
		out, err := hostileRun(t, s, "j", "exit")
		var exit *ExitError
		if !errors.Is(err, ErrModuleExit) || !errors.As(err, &exit) || exit.Code != 3 {
			t.Fatalf("err = %v, want ErrModuleExit with code 3", err)
		}
		if out.ExitCode != 3 || string(out.Stderr) != "giving up\n" {
			t.Errorf("exit code %d, stderr %q", out.ExitCode, out.Stderr)
		}
	})
	t.Run("panic", func(t *testing.T) {
		out, err := hostileRun(t, s, "j", "panic")
		if !errors.Is(err, ErrModuleExit) || out.ExitCode != 2 {
			t.Fatalf("err = %v, exit code %d; want ErrModuleExit with code 2", err, out.ExitCode)
		}
		if !bytes.Contains(out.Stderr, []byte("hostile module panics")) {
			t.Errorf("stderr = %q, want the panic message", out.Stderr)
		}
	})
	t.Run("trap", func(t *testing.T) {
		if _, err := hostileRun(t, s, "j", "trap"); !errors.Is(err, ErrTrap) {
			t.Fatalf("err = %v, want ErrTrap", err)
		}
	})
	t.Run("two JSON documents", func(t *testing.T) {
		if _, err := hostileRun(t, s, "j", "garbage"); !errors.Is(err, ErrBadOutput) {
			t.Fatalf("err = %v, want ErrBadOutput", err)
		}
	})
	t.Run("escape", func(t *testing.T) {
		got := escape(t, s, "job-a")
		want := map[string]any{
			"open_error": true, "readdir_error": true, "dial_error": true, "home": "", "environ": []any{},
			"args": []any{"algorithm"}, "year": 2022.0, // wazero's fake clock
		}
		random := got["random"]
		delete(got, "random")
		if !reflect.DeepEqual(got, want) {
			t.Errorf("the module saw %v, want %v", got, want)
		}
		if again := escape(t, s, "job-a")["random"]; again != random {
			t.Errorf("same job id, different randomness: %v, %v", random, again)
		}
		if other := escape(t, s, "job-b")["random"]; other == random {
			t.Errorf("different job ids, same randomness %v", random)
		}
	})
	t.Run("frame read in the guest", func(t *testing.T) {
		out, err := hostileRun(t, s, "j", "echo")
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Rows    int
			Columns []struct {
				Name, Kind string
				Levels     []string
				Floats     []float64
				Ints       []int64
				Codes      []uint32
			}
			Params json.RawMessage
		}
		if err := json.Unmarshal(out.Result, &got); err != nil {
			t.Fatal(err)
		}
		gotTab := &dataset.Table{Rows: got.Rows}
		for _, c := range got.Columns {
			gotTab.Columns = append(gotTab.Columns, dataset.Column{Name: c.Name, Kind: dataset.Kind(c.Kind), Levels: c.Levels, Floats: c.Floats, Ints: c.Ints, Codes: c.Codes})
		}
		if !equalTables(sampleTable(5), gotTab) || string(got.Params) != `{"mode":"echo"}` {
			t.Errorf("the guest read %s", out.Result)
		}
	})
}

func escape(t *testing.T, s *Sandbox, jobID string) map[string]any {
	t.Helper()
	out, err := hostileRun(t, s, jobID, "escape")
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out.Result, &got); err != nil {
		t.Fatal(err)
	}
	return got
}

// A module that spins is stopped at its deadline; Run returns.
func TestRunTimeout(t *testing.T) {
	s := newTestSandbox(t, func(c *Config) { c.Timeout = 50_000_000 }) // 50ms
	_, err := hostileRun(t, s, "j", "loop")
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
}

// Compiled code survives in CacheDir across sandboxes, and a module evicted
// from the in-memory cache is compiled again when it comes back.
func TestSandboxCaches(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := newTestSandbox(t, func(c *Config) { c.CacheDir = dir; c.CachedModules = 1 })
	for _, name := range []string{"noop", "hostile", "noop"} {
		params := json.RawMessage(`{"mode":"escape"}`)
		if _, err := s.Run(ctx, testModule(t, name), Input{JobID: "j", Table: sampleTable(1), Params: params}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if n := len(s.compiled); n != 1 {
		t.Errorf("%d modules kept in memory, want 1", n)
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) == 0 {
		t.Fatalf("nothing in the cache directory (%v)", err)
	}
	s2 := newTestSandbox(t, func(c *Config) { c.CacheDir = dir })
	out, err := s2.Run(ctx, testModule(t, "noop"), Input{JobID: "j", Table: sampleTable(1)})
	if err != nil || string(out.Result) != "{}" {
		t.Fatalf("from the disk cache: %v, %v", out, err)
	}
}

func TestNewSandboxRefusesBadConfig(t *testing.T) {
	for _, change := range []func(*Config){
		func(c *Config) { c.MemoryLimitPages = 0 },
		func(c *Config) { c.MemoryLimitPages = 65537 },
		func(c *Config) { c.Timeout = 0 },
		func(c *Config) { c.MaxOutput = 0 },
		func(c *Config) { c.MaxStderr = -1 },
		func(c *Config) { c.MaxModuleSize = 0 },
		func(c *Config) { c.CachedModules = 0 },
		func(c *Config) { c.MaxRunningJobs = 0 },
		func(c *Config) { c.MaxWaitingJobs = -1 },
	} {
		cfg := DefaultConfig()
		change(&cfg)
		if s, err := NewSandbox(context.Background(), cfg); err == nil {
			_ = s.Close(context.Background())
			t.Errorf("config %+v accepted", cfg)
		}
	}
}

func TestRunErrorsHoldNoData(t *testing.T) {
	s := newTestSandbox(t, nil)
	tab := sampleTable(2)
	tab.Columns[0].Floats = []float64{123456.789} // one value short
	_, err := s.Run(context.Background(), testModule(t, "noop"), Input{JobID: "j", Table: tab})
	if !errors.Is(err, ErrBadInput) || strings.Contains(err.Error(), "123456") {
		t.Fatalf("err = %v", err)
	}
}

// Jobs run side by side in one sandbox, each with its own output, even
// while one of them floods.
func TestRunConcurrent(t *testing.T) {
	s := newTestSandbox(t, nil)
	modes := []string{"escape", "flood", "escape", "exit", "escape"}
	errs := make([]error, len(modes))
	outs := make([]*Output, len(modes))
	module := testModule(t, "hostile")
	var wg sync.WaitGroup
	for i, mode := range modes {
		wg.Go(func() {
			in := Input{JobID: fmt.Sprintf("job-%d", i), Table: sampleTable(5), Params: json.RawMessage(`{"mode":"` + mode + `"}`)}
			outs[i], errs[i] = s.Run(context.Background(), module, in)
		})
	}
	wg.Wait()
	for i, mode := range modes {
		switch mode {
		case "escape":
			if errs[i] != nil || !json.Valid(outs[i].Result) {
				t.Errorf("job %d: %v", i, errs[i])
			}
		case "flood":
			if !errors.Is(errs[i], ErrOutputTooLarge) {
				t.Errorf("job %d: err = %v, want ErrOutputTooLarge", i, errs[i])
			}
		case "exit":
			if !errors.Is(errs[i], ErrModuleExit) {
				t.Errorf("job %d: err = %v, want ErrModuleExit", i, errs[i])
			}
		}
	}
}

// A module that traps fails with ErrTrap; one over the size cap is refused
// before it is compiled.
func TestRunTrapAndHugeModule(t *testing.T) {
	s := newTestSandbox(t, func(c *Config) { c.MaxModuleSize = 1 << 20 })
	in := Input{JobID: "j", Table: sampleTable(3)}
	if _, err := s.Run(context.Background(), wasmtest.Trap(), in); !errors.Is(err, ErrTrap) {
		t.Fatalf("trapping module: %v, want ErrTrap", err)
	}
	huge := wasmtest.WithCustomSection(wasmtest.Trap(), 1<<20)
	if _, err := s.Run(context.Background(), huge, in); !errors.Is(err, ErrInvalidModule) || !strings.Contains(err.Error(), "over the limit") {
		t.Fatalf("huge module: %v, want ErrInvalidModule over the limit", err)
	}
	// Under the cap, the custom section changes nothing.
	if _, err := s.Run(context.Background(), wasmtest.WithCustomSection(wasmtest.Trap(), 1000), in); !errors.Is(err, ErrTrap) {
		t.Fatalf("trapping module with a custom section: %v, want ErrTrap", err)
	}
}

// The histogram and logreg examples run in the sandbox and agree with the
// built-ins on the same data.
func TestRunHistogramAndLogRegExamples(t *testing.T) {
	s := newTestSandbox(t, nil)
	tab := regressionTable(300)
	out, err := s.Run(context.Background(), examples.Histogram(), Input{JobID: "j", Table: tab, Params: json.RawMessage(`{"bins":5}`)})
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Rows    int
		Columns []struct {
			Name   string
			Counts []int
			Levels map[string]int
		}
	}
	if err := json.Unmarshal(out.Result, &h); err != nil {
		t.Fatal(err)
	}
	if h.Rows != 300 || len(h.Columns) != 5 || len(h.Columns[0].Counts) != 5 || h.Columns[3].Levels["yes"]+h.Columns[3].Levels["no"] != 300 {
		t.Fatalf("histogram %s", out.Result)
	}
	total := 0
	for _, n := range h.Columns[0].Counts {
		total += n
	}
	if total != 300 {
		t.Fatalf("histogram of a counts %d values", total)
	}
	out, err = s.Run(context.Background(), examples.LogReg(), Input{JobID: "j", Table: tab,
		Params: json.RawMessage(`{"target":"pos","features":["a","b"],"epochs":20}`)})
	if err != nil {
		t.Fatal(err)
	}
	var lr struct {
		Update  []float64
		Samples int
		Loss    float64
	}
	if err := json.Unmarshal(out.Result, &lr); err != nil {
		t.Fatal(err)
	}
	if lr.Samples != 300 || len(lr.Update) != 3 || lr.Loss > 0.3 || !(lr.Update[0] > 0 && lr.Update[1] < 0) {
		t.Fatalf("logreg %s", out.Result)
	}
}
