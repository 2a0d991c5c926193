package dataset

import (
	"bytes"
	"encoding/csv"
	"io"
	"math/rand/v2"
	"strconv"
	"testing"
)

// numericCSV returns a CSV file of rows rows and cols columns: the first
// third integers, the rest floats, from a fixed seed.
func numericCSV(rows, cols int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	for j := range cols {
		if j > 0 {
			b.WriteByte(',')
		}
		b.WriteString("c")
		b.WriteString(strconv.Itoa(j))
	}
	b.WriteByte('\n')
	var num []byte
	for range rows {
		for j := range cols {
			if j > 0 {
				b.WriteByte(',')
			}
			if j < cols/3 {
				num = strconv.AppendInt(num[:0], rng.Int64N(1_000_000)-500_000, 10)
			} else {
				num = strconv.AppendFloat(num[:0], rng.NormFloat64()*100, 'f', 4, 64)
			}
			b.Write(num)
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func BenchmarkReadCSV(b *testing.B) {
	data := numericCSV(100_000, 30)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		t, err := ReadCSV(bytes.NewReader(data), ReadOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if t.Rows != 100_000 {
			b.Fatalf("%d rows", t.Rows)
		}
	}
}

// BenchmarkCSVBaseline is the least any CSV import must do: read the same
// bytes with encoding/csv and parse every value, keeping nothing.
func BenchmarkCSVBaseline(b *testing.B) {
	data := numericCSV(100_000, 30)
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
			}
			if err != nil {
				b.Fatal(err)
			}
			for _, v := range rec {
				if _, err := strconv.ParseFloat(v, 64); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
}
