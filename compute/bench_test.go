package compute

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"strconv"
	"testing"

	"github.com/trove-project/trove/dataset"
	"github.com/trove-project/trove/guest"
)

// perOp is the mean time of one iteration of a finished benchmark, in ns.
func perOp(b *testing.B) float64 { return float64(b.Elapsed().Nanoseconds()) / float64(b.N) }

// reportRatio reports b's time per op as a multiple of baseline's.
func reportRatio(b *testing.B, baseline float64) {
	if baseline > 0 {
		b.ReportMetric(perOp(b)/baseline, "x-baseline")
	}
}

// BenchmarkJobNoop runs an empty module as a job: instantiate (compiled
// once, outside the timer), _start, collect the output. Goal: ≤ 5 ms per
// job. The baseline does the same job natively: frame the empty table,
// read the frame with the guest SDK, write the result.
func BenchmarkJobNoop(b *testing.B) {
	in := Input{JobID: "bench", Table: &dataset.Table{}}
	var baseline float64
	b.Run("baseline=native", func(b *testing.B) {
		b.ReportAllocs()
		var out bytes.Buffer
		for b.Loop() {
			frame, err := EncodeFrame(in.Table, in.Params)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := guest.ReadFrom(bytes.NewReader(frame)); err != nil {
				b.Fatal(err)
			}
			out.Reset()
			if err := guest.WriteResultTo(&out, struct{}{}); err != nil {
				b.Fatal(err)
			}
		}
		baseline = perOp(b)
	})
	b.Run("wasm", func(b *testing.B) {
		s := newTestSandbox(b, nil)
		module := testModule(b, "noop")
		ctx := context.Background()
		if _, err := s.Run(ctx, module, in); err != nil { // compile outside the timer
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if _, err := s.Run(ctx, module, in); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(perOp(b)/1e6, "ms/job")
		reportRatio(b, baseline)
	})
}

// columnMeanNative is the baseline of the column mean benchmarks: a plain
// loop over each column.
func columnMeanNative(b *testing.B, t *dataset.Table) {
	b.ReportAllocs()
	b.SetBytes(8 * 8 * 1_000_000)
	means := make([]float64, len(t.Columns))
	for b.Loop() {
		for i := range t.Columns {
			var s float64
			for _, x := range t.Columns[i].Floats {
				s += x
			}
			means[i] = s / float64(len(t.Columns[i].Floats))
		}
	}
	if means[0] <= 0 {
		b.Fatalf("mean %v", means[0])
	}
}

// columnMeanWasm runs the colmean module over t in s, frame encoding
// included, and checks its answer once.
func columnMeanWasm(b *testing.B, s *Sandbox, t *dataset.Table) {
	module := testModule(b, "colmean")
	ctx := context.Background()
	in := Input{JobID: "bench", Table: t}
	out, err := s.Run(ctx, module, in) // compile outside the timer
	if err != nil {
		b.Fatal(err)
	}
	var res struct{ Means []float64 }
	if err := json.Unmarshal(out.Result, &res); err != nil || len(res.Means) != 8 {
		b.Fatalf("colmean: %s, %v", out.Result, err)
	}
	b.ReportAllocs()
	b.SetBytes(8 * 8 * 1_000_000)
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Run(ctx, module, in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkColumnMeanNative is the baseline alone: the mean of each of 8
// float64 columns of 1,000,000 rows in a plain Go loop.
func BenchmarkColumnMeanNative(b *testing.B) { columnMeanNative(b, benchTable()) }

// BenchmarkColumnMeanWasm is the same means computed by a module in the
// production sandbox (runaway protection on), frame encoding included,
// beside the native baseline. Goal: ≤ 8 x-baseline.
func BenchmarkColumnMeanWasm(b *testing.B) {
	t := benchTable()
	var baseline float64
	b.Run("baseline=native", func(b *testing.B) { columnMeanNative(b, t); baseline = perOp(b) })
	b.Run("wasm", func(b *testing.B) {
		columnMeanWasm(b, newTestSandbox(b, nil), t)
		reportRatio(b, baseline)
	})
}

// BenchmarkColumnMeanWasmUnprotected is BenchmarkColumnMeanWasm with
// close-on-context-done off, which production never does: the gap is
// what the runaway protection costs (upstream wazero issue #2466).
func BenchmarkColumnMeanWasmUnprotected(b *testing.B) {
	t := benchTable()
	var baseline float64
	b.Run("baseline=native", func(b *testing.B) { columnMeanNative(b, t); baseline = perOp(b) })
	b.Run("wasm-unprotected", func(b *testing.B) {
		s, err := newSandbox(context.Background(), DefaultConfig(), false)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close(context.Background()) })
		columnMeanWasm(b, s, t)
		reportRatio(b, baseline)
	})
}

// BenchmarkFrameEncode frames 8 float64 columns of 1,000,000 rows beside
// the baseline it cannot beat: allocate a buffer of the same size and copy
// the columns into it.
func BenchmarkFrameEncode(b *testing.B) {
	tab := benchTable()
	var baseline float64
	b.Run("baseline=copy", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(8 * 8 * 1_000_000)
		for b.Loop() {
			dst := make([]byte, 8*8*1_000_000)
			off := 0
			for i := range tab.Columns {
				off += copy(dst[off:], asBytes(tab.Columns[i].Floats))
			}
		}
		baseline = perOp(b)
	})
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(8 * 8 * 1_000_000)
		for b.Loop() {
			if _, err := EncodeFrame(tab, nil); err != nil {
				b.Fatal(err)
			}
		}
		reportRatio(b, baseline)
	})
}

// BenchmarkInputCSV measures why the input is a binary frame and not CSV:
// moving 8 float64 columns of 1,000,000 rows from the host's table to
// float64 slices a guest can sum, natively on both sides (inside the
// sandbox the per-value parsing costs several times more). The baseline
// is the frame: EncodeFrame, then the guest SDK's ReadFrom and its column
// views. The CSV path formats every value, then parses it back with
// encoding/csv and strconv.
func BenchmarkInputCSV(b *testing.B) {
	tab := benchTable()
	sum := func(b *testing.B, cols [][]float64) {
		var s float64
		for _, c := range cols {
			for _, x := range c {
				s += x
			}
		}
		if s <= 0 {
			b.Fatalf("sum %v", s)
		}
	}
	var baseline float64
	b.Run("baseline=frame", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(8 * 8 * 1_000_000)
		for b.Loop() {
			frame, err := EncodeFrame(tab, nil)
			if err != nil {
				b.Fatal(err)
			}
			f, err := guest.ReadFrom(bytes.NewReader(frame))
			if err != nil {
				b.Fatal(err)
			}
			cols := make([][]float64, len(f.Columns))
			for i := range f.Columns {
				cols[i] = f.Columns[i].Floats()
			}
			sum(b, cols)
		}
		baseline = perOp(b)
	})
	b.Run("csv", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(8 * 8 * 1_000_000)
		for b.Loop() {
			var buf bytes.Buffer
			line := make([]byte, 0, 256)
			for i := range tab.Rows {
				line = line[:0]
				for j := range tab.Columns {
					if j > 0 {
						line = append(line, ',')
					}
					line = strconv.AppendFloat(line, tab.Columns[j].Floats[i], 'g', -1, 64)
				}
				buf.Write(append(line, '\n'))
			}
			r := csv.NewReader(&buf)
			r.ReuseRecord = true
			cols := make([][]float64, len(tab.Columns))
			for {
				rec, err := r.Read()
				if err == io.EOF {
					break
				} else if err != nil {
					b.Fatal(err)
				}
				for j, field := range rec {
					x, err := strconv.ParseFloat(field, 64)
					if err != nil {
						b.Fatal(err)
					}
					cols[j] = append(cols[j], x)
				}
			}
			sum(b, cols)
		}
		reportRatio(b, baseline)
	})
}
