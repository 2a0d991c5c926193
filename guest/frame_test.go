package guest_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/trove-project/trove/compute"
	"github.com/trove-project/trove/dataset"
	"github.com/trove-project/trove/guest"
)

func table(rows int) *dataset.Table {
	t := &dataset.Table{Rows: rows, Columns: []dataset.Column{
		{Name: "x", Kind: dataset.Float, Floats: make([]float64, rows)},
		{Name: "c", Kind: dataset.Categorical, Codes: make([]uint32, rows), Levels: []string{"no", "yes"}},
		{Name: "n", Kind: dataset.Integer, Ints: make([]int64, rows)},
		{Name: "t", Kind: dataset.Timestamp, Ints: make([]int64, rows)},
	}}
	for i := range rows {
		t.Columns[0].Floats[i] = float64(i) / 3
		t.Columns[1].Codes[i] = uint32(i % 2)
		t.Columns[2].Ints[i] = -int64(i) * 1_000_000_007
		t.Columns[3].Ints[i] = 1_700_000_000_000_000_000 + int64(i)
	}
	return t
}

// What compute encodes, guest reads, column for column.
func TestReadFromMatchesEncodeFrame(t *testing.T) {
	for _, rows := range []int{0, 1, 5} {
		want := table(rows)
		frame, err := compute.EncodeFrame(want, json.RawMessage(`{"k":"v"}`))
		if err != nil {
			t.Fatal(err)
		}
		f, err := guest.ReadFrom(bytes.NewReader(frame))
		if err != nil {
			t.Fatalf("rows %d: %v", rows, err)
		}
		if f.Rows != rows || len(f.Columns) != 4 || string(f.Params) != `{"k":"v"}` {
			t.Fatalf("rows %d: frame = %+v", rows, f)
		}
		for i := range f.Columns {
			g, w := &f.Columns[i], &want.Columns[i]
			if g.Name != w.Name || g.Kind != string(w.Kind) {
				t.Errorf("column %d is %s %s, want %s %s", i, g.Name, g.Kind, w.Name, w.Kind)
			}
			if !slices.Equal(g.Floats(), w.Floats) || !slices.Equal(g.Ints(), w.Ints) ||
				!slices.Equal(g.Codes(), w.Codes) || (w.Kind == dataset.Categorical && !slices.Equal(g.Levels, w.Levels)) {
				t.Errorf("rows %d: column %s differs", rows, w.Name)
			}
		}
		if rows > 0 && (f.Column("x").Ints() != nil || f.Column("x").Codes() != nil || f.Column("c").Floats() != nil) {
			t.Error("a view of the wrong kind is not nil")
		}
		if f.Column("nope") != nil {
			t.Error("Column found a column that is not there")
		}
	}
}

func TestReadFromNullParams(t *testing.T) {
	frame, err := compute.EncodeFrame(table(2), nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := guest.ReadFrom(bytes.NewReader(frame))
	if err != nil || f.Params != nil {
		t.Fatalf("params = %q, err = %v; want nil", f.Params, err)
	}
}

func TestReadFromRefuses(t *testing.T) {
	frame, err := compute.EncodeFrame(table(3), nil)
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(frame)
	copy(bad, "XXXX")
	header := `{"rows":1,"columns":[{"name":"a","kind":"?"}]}`
	unknown := append([]byte("TRV1"), byte(len(header)), 0, 0, 0)
	unknown = append(unknown, header...)
	for len(unknown)%8 != 0 {
		unknown = append(unknown, 0)
	}
	for name, tt := range map[string]struct {
		frame []byte
		want  string
	}{
		"empty":         {nil, "prefix"},
		"bad magic":     {bad, "magic"},
		"short header":  {frame[:12], "header"},
		"short columns": {frame[:len(frame)-1], "columns"},
		"unknown kind":  {unknown, "unknown kind"},
		"huge header":   {[]byte("TRV1\xff\xff\xff\xff"), "too large"},
	} {
		_, err := guest.ReadFrom(bytes.NewReader(tt.frame))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want one saying %q", name, err, tt.want)
		}
	}
}

func TestWriteResultTo(t *testing.T) {
	var b bytes.Buffer
	if err := guest.WriteResultTo(&b, map[string]int{"n": 1}); err != nil || b.String() != `{"n":1}` {
		t.Fatalf("wrote %q, err %v", b.String(), err)
	}
	if err := guest.WriteResultTo(&b, func() {}); err == nil {
		t.Error("a func was written as JSON")
	}
	if err := guest.WriteResultTo(failWriter{}, 1); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("err = %v, want the writer's", err)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }
