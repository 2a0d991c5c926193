package dataset

import (
	"errors"
	"math"
	"slices"
	"strings"
)

// The causes of a ParseError for a value that does not fit a column whose
// kind the caller forced.
var (
	errNotInteger   = errors.New("value is not an integer")
	errNotFloat     = errors.New("value is not a finite number")
	errNotTimestamp = errors.New("value is not a timestamp (RFC 3339, 2006-01-02 or 2006-01-02 15:04:05)")
	errTooManyLevel = errors.New("more distinct values than a categorical column can hold")
)

// builder accumulates one column while the file is read. Under inference
// it starts with no kind, takes the kind of the first non-empty value
// (integer, float, timestamp, else categorical) and widens as values
// require: integer to float, and anything to categorical. Numbers and
// timestamps are parsed straight into their slice, so a numeric column
// costs no string per value. A column widened to categorical after it had
// values of another kind has lost their text; it is marked deferred and
// encoded from a second read of the input.
type builder struct {
	name      string
	kind      Kind // "" until the first non-empty value, under inference
	forced    bool
	deferred  bool
	ints      []int64
	floats    []float64
	dict      dictionary
	emptyLine int // line of the first empty value, 0 if none
}

// add appends v, the value of the row with index row. It returns the
// cause of a ParseError when v cannot be kept.
func (b *builder) add(v string, row int) error {
	switch b.kind {
	case Float:
		if f, ok := parseFloat(v); ok {
			b.floats = append(b.floats, f)
			return nil
		}
		if v == "" {
			if b.forced {
				return ErrMissingValue
			}
			b.floats = append(b.floats, 0)
			return nil
		}
		if b.forced {
			return errNotFloat
		}
		b.widen()
	case Integer:
		if n, ok := parseInt(v); ok {
			b.ints = append(b.ints, n)
			return nil
		}
		if v == "" {
			if b.forced {
				return ErrMissingValue
			}
			b.ints = append(b.ints, 0)
			return nil
		}
		if b.forced {
			return errNotInteger
		}
		if f, ok := parseFloat(v); ok {
			b.floats = make([]float64, len(b.ints), cap(b.ints))
			for i, n := range b.ints {
				// Exact for |n| ≤ 2⁵³; beyond, both this and
				// ParseFloat of the text round to nearest.
				b.floats[i] = float64(n)
			}
			b.floats = append(b.floats, f)
			b.ints, b.kind = nil, Float
			return nil
		}
		b.widen()
	case Timestamp:
		if ns, ok := parseTimestamp(v); ok {
			b.ints = append(b.ints, ns)
			return nil
		}
		if v == "" {
			if b.forced {
				return ErrMissingValue
			}
			b.ints = append(b.ints, 0)
			return nil
		}
		if b.forced {
			return errNotTimestamp
		}
		b.widen()
	case Categorical:
		if !b.deferred {
			return b.dict.add(v)
		}
	case "":
		if v != "" {
			return b.start(v, row)
		}
	}
	return nil
}

// start gives an inferred column the kind of its first non-empty value v,
// found in row row; the rows before it were all empty.
func (b *builder) start(v string, row int) error {
	if n, ok := parseInt(v); ok {
		b.kind, b.ints = Integer, append(make([]int64, row, 2*row+64), n)
		return nil
	}
	if f, ok := parseFloat(v); ok {
		b.kind, b.floats = Float, append(make([]float64, row, 2*row+64), f)
		return nil
	}
	if ns, ok := parseTimestamp(v); ok {
		b.kind, b.ints = Timestamp, append(make([]int64, row, 2*row+64), ns)
		return nil
	}
	b.kind = Categorical
	for range row {
		if err := b.dict.add(""); err != nil {
			return err
		}
	}
	return b.dict.add(v)
}

// reserve makes room for n values in the column's slice. It grows the
// slice an eighth beyond n, so that a slightly larger estimate later does
// not copy the whole column again for a few more values.
func (b *builder) reserve(n int) {
	switch {
	case b.deferred:
	case b.kind == Float:
		b.floats = grow(b.floats, n)
	case b.kind == Integer || b.kind == Timestamp:
		b.ints = grow(b.ints, n)
	case b.kind == Categorical:
		b.dict.codes = grow(b.dict.codes, n)
	}
}

func grow[S ~[]E, E any](s S, n int) S {
	if cap(s) >= n {
		return s
	}
	return slices.Grow(s, n+n/8-len(s))
}

// widen makes the column categorical, to be encoded by the second read.
func (b *builder) widen() {
	b.kind, b.deferred = Categorical, true
	b.ints, b.floats = nil, nil
}

// column returns the finished column of rows values, or the cause of a
// ParseError (with the line it concerns) if the column cannot be kept.
func (b *builder) column(rows int) (Column, int, error) {
	c := Column{Name: b.name, Kind: b.kind}
	switch b.kind {
	case "": // every value empty: one level, ""
		c.Kind = Categorical
		c.Codes = make([]uint32, rows)
		c.Levels = []string{""}
		return c, 0, nil
	case Categorical:
		c.Codes, c.Levels = b.dict.codes, b.dict.levels
		return c, 0, nil
	}
	if b.emptyLine > 0 {
		return Column{}, b.emptyLine, ErrMissingValue
	}
	if b.kind == Float {
		c.Floats = b.floats
	} else {
		c.Ints = b.ints
	}
	return c, 0, nil
}

// dictionary encodes strings as codes into a list of distinct levels, in
// order of first appearance.
type dictionary struct {
	index  map[string]uint32
	levels []string
	codes  []uint32
}

func (d *dictionary) add(v string) error {
	code, ok := d.index[v]
	if !ok {
		if len(d.levels) == math.MaxUint32 {
			return errTooManyLevel
		}
		if d.index == nil {
			d.index = make(map[string]uint32)
		}
		// v shares memory with its whole CSV record; a copy keeps only it.
		v = strings.Clone(v)
		code = uint32(len(d.levels))
		d.index[v] = code
		d.levels = append(d.levels, v)
	}
	d.codes = append(d.codes, code)
	return nil
}
