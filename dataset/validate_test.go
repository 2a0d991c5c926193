package dataset

import (
	"math"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	good := func() *Table {
		return &Table{Rows: 2, Columns: []Column{
			{Name: "f", Kind: Float, Floats: []float64{1, 2}},
			{Name: "i", Kind: Integer, Ints: []int64{1, 2}},
			{Name: "t", Kind: Timestamp, Ints: []int64{1, 2}},
			{Name: "c", Kind: Categorical, Codes: []uint32{0, 1}, Levels: []string{"a", "b"}},
		}}
	}
	if err := good().Validate(); err != nil {
		t.Fatalf("Validate of a good table: %v", err)
	}
	tests := []struct {
		name   string
		break_ func(*Table)
		want   string
	}{
		{"negative rows", func(t *Table) { t.Rows = -1 }, "-1 rows"},
		{"more rows than values", func(t *Table) { t.Rows = 3 }, "has 2 values, the table 3 rows"},
		{"short column", func(t *Table) { t.Columns[1].Ints = t.Columns[1].Ints[:1] }, `column "i"`},
		{"empty name", func(t *Table) { t.Columns[0].Name = "" }, "column 1: empty name"},
		{"duplicate name", func(t *Table) { t.Columns[1].Name = "f" }, `duplicate name "f"`},
		{"unknown kind", func(t *Table) { t.Columns[0].Kind = "complex" }, "unknown column kind"},
		{"float column with ints", func(t *Table) { t.Columns[0].Ints = []int64{1} }, "slices of other kinds"},
		{"integer column with levels", func(t *Table) { t.Columns[1].Levels = []string{"x"} }, "slices of other kinds"},
		{"integer column in floats", func(t *Table) { t.Columns[1].Floats, t.Columns[1].Ints = []float64{1, 2}, nil }, "has 0 values"},
		{"NaN", func(t *Table) { t.Columns[0].Floats[1] = math.NaN() }, "NaN or infinite"},
		{"Inf", func(t *Table) { t.Columns[0].Floats[0] = math.Inf(-1) }, "NaN or infinite"},
		{"code out of range", func(t *Table) { t.Columns[3].Codes[1] = 2 }, "row 2: code 2, but only 2 levels"},
		{"duplicate levels", func(t *Table) { t.Columns[3].Levels[1] = "a" }, "duplicate levels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := good()
			tt.break_(tab)
			err := tab.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

func TestTakeSelectsRows(t *testing.T) {
	tab, err := ReadCSV(strings.NewReader("x,n,c,t\n1.5,1,a,2024-01-01\n2.5,2,b,2024-01-02\n3.5,3,a,2024-01-03\n"), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := tab.Take([]int{2, 0})
	if err := got.Validate(); err != nil {
		t.Fatal(err)
	}
	if got.Rows != 2 || got.Columns[0].Floats[0] != 3.5 || got.Columns[1].Ints[1] != 1 ||
		got.Columns[2].Levels[got.Columns[2].Codes[0]] != "a" || got.Columns[3].Ints[0] != tab.Columns[3].Ints[2] {
		t.Fatalf("took %+v", got)
	}
	got.Columns[0].Floats[0] = 99
	if tab.Columns[0].Floats[2] == 99 {
		t.Fatal("Take shares values with its source")
	}
}
