package vault_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"testing"

	"github.com/trove-project/trove/vault"
)

const (
	benchRows = 100_000
	benchCols = 30
)

// csvRead is the baseline: encoding/csv reading the file and parsing every
// value, keeping nothing.
func csvRead(b *testing.B, data []byte) {
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r := csv.NewReader(bytes.NewReader(data))
		r.ReuseRecord = true
		if _, err := r.Read(); err != nil {
			b.Fatal(err)
		}
		for {
			rec, err := r.Read()
			if err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
			for _, f := range rec {
				if _, err := strconv.ParseFloat(f, 64); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
}

// BenchmarkCSVRead is the baseline for BenchmarkImport.
func BenchmarkCSVRead(b *testing.B) {
	csvRead(b, numericCSV(benchRows, benchCols))
}

// BenchmarkImport imports a 100,000-row, 30-column numeric CSV: parsing,
// type inference, chunking, the digest, AES-GCM sealing and the SQLite
// transaction with its log entry. It runs the CSVRead baseline in the same
// run and reports import time as a multiple of it (goal ≤ 3).
func BenchmarkImport(b *testing.B) {
	data := numericCSV(benchRows, benchCols)
	base := testing.Benchmark(func(b *testing.B) { csvRead(b, data) })
	v := MustCreate(b, vault.Config{})
	ctx := context.Background()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := v.Import(ctx, fmt.Sprintf("d%d", i), bytes.NewReader(data), vault.ImportOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	perOp := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(float64(base.NsPerOp())/1e6, "baseline-ms/op")
	b.ReportMetric(perOp/float64(base.NsPerOp()), "x-baseline")
}
