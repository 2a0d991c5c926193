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
// transaction with its log entry. It runs the CSVRead baseline first, in
// the same run, and reports the import's time as a multiple of it
// (x-baseline; goal ≤ 3).
func BenchmarkImport(b *testing.B) {
	data := numericCSV(benchRows, benchCols)
	var baseline float64
	b.Run("baseline=CSVRead", func(b *testing.B) {
		csvRead(b, data)
		baseline = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	b.Run("vault", func(b *testing.B) {
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
		if baseline > 0 {
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/baseline, "x-baseline")
		}
	})
}
