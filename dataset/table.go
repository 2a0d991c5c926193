package dataset

import "fmt"

// Kind is the type of the values in a column.
type Kind string

// The kinds of column a dataset can hold.
const (
	Float       Kind = "float"       // IEEE 754 double
	Integer     Kind = "integer"     // signed 64-bit
	Categorical Kind = "categorical" // strings, dictionary-encoded
	Timestamp   Kind = "timestamp"   // instants, as Unix nanoseconds (UTC)
)

// ParseKind returns the Kind named by s.
func ParseKind(s string) (Kind, error) {
	switch k := Kind(s); k {
	case Float, Integer, Categorical, Timestamp:
		return k, nil
	}
	return "", fmt.Errorf("unknown column kind %q (want float, integer, categorical or timestamp)", s)
}

// Column is one named, typed column. Exactly one of the value slices is
// used, chosen by Kind: Floats for Float; Ints for Integer and Timestamp;
// Codes (indexes into Levels) for Categorical.
type Column struct {
	Name   string
	Kind   Kind
	Floats []float64
	Ints   []int64
	Codes  []uint32
	Levels []string
}

// Len returns the number of values in the column.
func (c *Column) Len() int {
	switch c.Kind {
	case Float:
		return len(c.Floats)
	case Integer, Timestamp:
		return len(c.Ints)
	case Categorical:
		return len(c.Codes)
	}
	return 0
}

// Float64 returns value i as a float64: integers and timestamps are
// converted, categorical values give their code.
func (c *Column) Float64(i int) float64 {
	switch c.Kind {
	case Float:
		return c.Floats[i]
	case Integer, Timestamp:
		return float64(c.Ints[i])
	case Categorical:
		return float64(c.Codes[i])
	}
	return 0
}

// Field describes one column of a schema.
type Field struct {
	Name string `json:"name"`
	Kind Kind   `json:"kind"`
}

// Table is a set of equally long columns.
type Table struct {
	Rows    int
	Columns []Column
}

// Schema returns the names and kinds of the table's columns, in order.
func (t *Table) Schema() []Field {
	s := make([]Field, len(t.Columns))
	for i, c := range t.Columns {
		s[i] = Field{Name: c.Name, Kind: c.Kind}
	}
	return s
}

// Column returns the column called name, or nil.
func (t *Table) Column(name string) *Column {
	for i := range t.Columns {
		if t.Columns[i].Name == name {
			return &t.Columns[i]
		}
	}
	return nil
}

// Select returns a table holding only the named columns, in the order
// given, sharing their values with t. An empty list selects every column.
func (t *Table) Select(names []string) (*Table, error) {
	if len(names) == 0 {
		return t, nil
	}
	out := &Table{Rows: t.Rows, Columns: make([]Column, 0, len(names))}
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if seen[n] {
			return nil, fmt.Errorf("column %q selected twice", n)
		}
		seen[n] = true
		c := t.Column(n)
		if c == nil {
			return nil, fmt.Errorf("no column %q", n)
		}
		out.Columns = append(out.Columns, *c)
	}
	return out, nil
}

// Take returns a new table holding the given rows of t, in the order given.
// Categorical columns keep all their levels. It panics on an index out of
// range, like a slice would.
func (t *Table) Take(rows []int) *Table {
	out := &Table{Rows: len(rows), Columns: make([]Column, len(t.Columns))}
	for ci, c := range t.Columns {
		nc := Column{Name: c.Name, Kind: c.Kind, Levels: c.Levels}
		switch c.Kind {
		case Float:
			nc.Floats = make([]float64, len(rows))
			for i, r := range rows {
				nc.Floats[i] = c.Floats[r]
			}
		case Integer, Timestamp:
			nc.Ints = make([]int64, len(rows))
			for i, r := range rows {
				nc.Ints[i] = c.Ints[r]
			}
		case Categorical:
			nc.Codes = make([]uint32, len(rows))
			for i, r := range rows {
				nc.Codes[i] = c.Codes[r]
			}
		}
		out.Columns[ci] = nc
	}
	return out
}
