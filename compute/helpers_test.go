package compute

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/trove-project/trove/dataset"
)

// testModules builds each module under testdata once per test binary run:
// a Go wasm build costs seconds.
var testModules = map[string]func() ([]byte, error){
	"noop":    sync.OnceValues(func() ([]byte, error) { return buildTestModule("noop") }),
	"hostile": sync.OnceValues(func() ([]byte, error) { return buildTestModule("hostile") }),
	"colmean": sync.OnceValues(func() ([]byte, error) { return buildTestModule("colmean") }),
}

func buildTestModule(name string) ([]byte, error) {
	dir, err := os.MkdirTemp("", "trove-compute-test-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, name+".wasm")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, "./testdata/"+name)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build testdata/%s: %w\n%s", name, err, msg)
	}
	return os.ReadFile(out)
}

// testModule returns the module built from testdata/name.
func testModule(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := testModules[name]()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// newTestSandbox opens a sandbox with the default config changed by
// change, closed at the end of the test.
func newTestSandbox(tb testing.TB, change func(*Config)) *Sandbox {
	tb.Helper()
	cfg := DefaultConfig()
	if change != nil {
		change(&cfg)
	}
	s, err := NewSandbox(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(context.Background()); err != nil {
			tb.Error(err)
		}
	})
	return s
}

// sampleTable has a column of each kind, with a row count that is neither
// a multiple of 2 nor of 4, so padding and loop tails are exercised.
func sampleTable(rows int) *dataset.Table {
	t := &dataset.Table{Rows: rows, Columns: []dataset.Column{
		{Name: "x", Kind: dataset.Float, Floats: make([]float64, rows)},
		{Name: "n", Kind: dataset.Integer, Ints: make([]int64, rows)},
		{Name: "when", Kind: dataset.Timestamp, Ints: make([]int64, rows)},
		{Name: "sex", Kind: dataset.Categorical, Codes: make([]uint32, rows), Levels: []string{"F", "M", "X"}},
	}}
	for i := range rows {
		t.Columns[0].Floats[i] = float64(i)*1.25 - 40.5 + 1/float64(i+3)
		t.Columns[1].Ints[i] = int64(i*i) - 1000
		t.Columns[2].Ints[i] = 1_700_000_000_000_000_000 + int64(i)*3_600_000_000_000
		t.Columns[3].Codes[i] = uint32(i % 3)
	}
	return t
}
