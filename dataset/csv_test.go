package dataset

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func ns(t *testing.T, s string) int64 {
	t.Helper()
	for _, layout := range []string{time.RFC3339, time.DateOnly, time.DateTime} {
		if tm, err := time.Parse(layout, s); err == nil {
			return tm.UnixNano()
		}
	}
	t.Fatalf("bad test timestamp %q", s)
	return 0
}

func TestReadCSVInfersKinds(t *testing.T) {
	tests := []struct {
		name  string
		csv   string
		types map[string]Kind
		want  []Column
	}{
		{
			name: "integers",
			csv:  "a,b\n1,-2\n3,+4\n",
			want: []Column{
				{Name: "a", Kind: Integer, Ints: []int64{1, 3}},
				{Name: "b", Kind: Integer, Ints: []int64{-2, 4}},
			},
		},
		{
			name: "integers widen to floats",
			csv:  "x\n1\n2.5\n1e-3\n-4\n",
			want: []Column{{Name: "x", Kind: Float, Floats: []float64{1, 2.5, 0.001, -4}}},
		},
		{
			name: "integer too large for int64 is a float",
			csv:  "x\n1\n99999999999999999999\n",
			want: []Column{{Name: "x", Kind: Float, Floats: []float64{1, 1e20}}},
		},
		{
			name: "timestamps in each layout",
			csv:  "t\n2024-01-02\n2024-01-02T03:04:05Z\n2024-01-02 03:04:05\n2024-01-02T03:04:05.5+02:00\n",
			want: []Column{{Name: "t", Kind: Timestamp, Ints: []int64{
				ns(t, "2024-01-02"), ns(t, "2024-01-02T03:04:05Z"), ns(t, "2024-01-02 03:04:05"), ns(t, "2024-01-02T01:04:05.5Z"),
			}}},
		},
		{
			name: "categorical levels in order of first appearance, empty is a level",
			csv:  "n,c\n1,b\n2,a\n3,\n4,b\n",
			want: []Column{
				{Name: "n", Kind: Integer, Ints: []int64{1, 2, 3, 4}},
				{Name: "c", Kind: Categorical, Codes: []uint32{0, 1, 2, 0}, Levels: []string{"b", "a", ""}},
			},
		},
		{
			name: "NaN and Inf make a column categorical",
			csv:  "x,y\n1,Inf\nNaN,2\n",
			want: []Column{
				{Name: "x", Kind: Categorical, Codes: []uint32{0, 1}, Levels: []string{"1", "NaN"}},
				{Name: "y", Kind: Categorical, Codes: []uint32{0, 1}, Levels: []string{"Inf", "2"}},
			},
		},
		{
			name: "numbers then text: earlier values keep their exact text",
			csv:  "x,y\n1.50,a\n007,b\nfoo,c\n1.50,d\n",
			want: []Column{
				{Name: "x", Kind: Categorical, Codes: []uint32{0, 1, 2, 0}, Levels: []string{"1.50", "007", "foo"}},
				{Name: "y", Kind: Categorical, Codes: []uint32{0, 1, 2, 3}, Levels: []string{"a", "b", "c", "d"}},
			},
		},
		{
			name: "timestamps then text",
			csv:  "t\n2024-01-02\nsoon\n",
			want: []Column{{Name: "t", Kind: Categorical, Codes: []uint32{0, 1}, Levels: []string{"2024-01-02", "soon"}}},
		},
		{
			name: "numbers then timestamp is categorical",
			csv:  "t\n12\n2024-01-02\n",
			want: []Column{{Name: "t", Kind: Categorical, Codes: []uint32{0, 1}, Levels: []string{"12", "2024-01-02"}}},
		},
		{
			name: "empty values then numbers then text",
			csv:  "a,b\n1,\n2,5\n3,x\n",
			want: []Column{
				{Name: "a", Kind: Integer, Ints: []int64{1, 2, 3}},
				{Name: "b", Kind: Categorical, Codes: []uint32{0, 1, 2}, Levels: []string{"", "5", "x"}},
			},
		},
		{
			name: "empty values then text",
			csv:  "a,b\n1,\n2,\n3,x\n",
			want: []Column{
				{Name: "a", Kind: Integer, Ints: []int64{1, 2, 3}},
				{Name: "b", Kind: Categorical, Codes: []uint32{0, 0, 1}, Levels: []string{"", "x"}},
			},
		},
		{
			name: "a column with only empty values is categorical",
			csv:  "a,b\n1,\n2,\n",
			want: []Column{
				{Name: "a", Kind: Integer, Ints: []int64{1, 2}},
				{Name: "b", Kind: Categorical, Codes: []uint32{0, 0}, Levels: []string{""}},
			},
		},
		{
			name: "byte order mark, CRLF, quoted fields",
			csv:  "\uFEFF\"a\",b\r\n\"1\",\"x, \"\"y\"\"\nz\"\r\n",
			want: []Column{
				{Name: "a", Kind: Integer, Ints: []int64{1}},
				{Name: "b", Kind: Categorical, Codes: []uint32{0}, Levels: []string{"x, \"y\"\nz"}},
			},
		},
		{
			name:  "override integer to float",
			csv:   "a,b\n1,2\n3,4\n",
			types: map[string]Kind{"a": Float},
			want: []Column{
				{Name: "a", Kind: Float, Floats: []float64{1, 3}},
				{Name: "b", Kind: Integer, Ints: []int64{2, 4}},
			},
		},
		{
			name:  "override numbers to categorical",
			csv:   "zip\n02139\n2139\n",
			types: map[string]Kind{"zip": Categorical},
			want:  []Column{{Name: "zip", Kind: Categorical, Codes: []uint32{0, 1}, Levels: []string{"02139", "2139"}}},
		},
		{
			name:  "override to timestamp",
			csv:   "t\n2024-01-02\n",
			types: map[string]Kind{"t": Timestamp},
			want:  []Column{{Name: "t", Kind: Timestamp, Ints: []int64{ns(t, "2024-01-02")}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadCSV(strings.NewReader(tt.csv), ReadOptions{Types: tt.types})
			if err != nil {
				t.Fatalf("ReadCSV: %v", err)
			}
			if err := got.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			want := &Table{Rows: tt.want[0].Len(), Columns: tt.want}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("ReadCSV =\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

// secret stands for personal data in malformed values: no error may echo it.
const secret = "s3cret"

func TestReadCSVRefusesMalformed(t *testing.T) {
	tests := []struct {
		name    string
		csv     string
		types   map[string]Kind
		line    int
		column  string
		message string // a part of the error message
		is      error  // if set, the cause
	}{
		{name: "empty file", csv: "", line: 1, message: "empty"},
		{name: "header only", csv: "a,b\n", line: 2, message: "no data rows"},
		{name: "empty header name", csv: "a,b,,d\n1,2,3,4\n", line: 1, message: "header: column 3: empty name"},
		{name: "blank header name", csv: "a, \n1,2\n", line: 1, message: "header: column 2: empty name"},
		{name: "duplicate header name", csv: "id,x,y,z,id\n1,2,3,4,5\n", line: 1, message: `header: column 5: duplicate name "id"`},
		{name: "short row", csv: "a,b\n1,2\n" + secret + "\n", line: 3, message: "row has 1 fields, the header has 2"},
		{name: "long row", csv: "a,b\n1,2\n3,4,5\n", line: 3, message: "row has 3 fields"},
		{name: "unterminated quote", csv: "a,b\n1,2\n3,\"" + secret + "\n", line: 3},
		{name: "bare quote", csv: "a,b\n1,x\"" + secret + "\n", line: 2},
		{name: "missing value in an integer column", csv: "a,b\n1,2\n3,\n5,6\n", line: 3, column: "b", is: ErrMissingValue},
		{name: "missing value in a float column", csv: "a,b\n1,2.5\n3,\n", line: 3, column: "b", is: ErrMissingValue},
		{name: "missing value in a timestamp column", csv: "a,t\n1,\n2,2024-01-02\n", line: 2, column: "t", is: ErrMissingValue},
		{name: "earliest missing value is reported", csv: "a,b\n1,2\n3,\n,6\n", line: 3, column: "b", is: ErrMissingValue},
		{
			name: "not an integer", csv: "a,age\n1,2\n3,x" + secret + "\n", types: map[string]Kind{"age": Integer},
			line: 3, column: "age", message: `line 3, column "age": value is not an integer`,
		},
		{
			name: "not a float", csv: "a,b\n1,2\n3," + secret + "\n", types: map[string]Kind{"b": Float},
			line: 3, column: "b", message: "value is not a finite number",
		},
		{
			name: "NaN under a float override", csv: "a,b\n1,NaN\n", types: map[string]Kind{"b": Float},
			line: 2, column: "b", message: "value is not a finite number",
		},
		{
			name: "not a timestamp", csv: "a,t\n1,2024-01-02\n2,2024-13-02" + secret + "\n", types: map[string]Kind{"t": Timestamp},
			line: 3, column: "t", message: "value is not a timestamp",
		},
		{
			name: "missing value under an override", csv: "a,b\n1,2\n3,\n", types: map[string]Kind{"b": Float},
			line: 3, column: "b", is: ErrMissingValue,
		},
		{
			name: "line counts the lines of quoted fields", csv: "a,b\n\"x\ny\",1\nz,q" + secret + "\n", types: map[string]Kind{"b": Integer},
			line: 4, column: "b", message: "not an integer",
		},
		{
			name: "override of a column the header lacks", csv: "a\n1\n", types: map[string]Kind{"b": Integer},
			line: 1, column: "b", message: "no such column",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, err := ReadCSV(strings.NewReader(tt.csv), ReadOptions{Types: tt.types})
			if err == nil {
				t.Fatalf("ReadCSV returned %+v, want an error", tab)
			}
			if tab != nil {
				t.Errorf("ReadCSV returned a table with its error")
			}
			var perr *ParseError
			if !errors.As(err, &perr) {
				t.Fatalf("error %q (%T) is not a *ParseError", err, err)
			}
			if perr.Line != tt.line || perr.Column != tt.column {
				t.Errorf("error %q at line %d, column %q; want line %d, column %q", err, perr.Line, perr.Column, tt.line, tt.column)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error %q does not say %q", err, tt.message)
			}
			if tt.is == ErrMissingValue && !errors.Is(err, ErrMissingValue) {
				t.Errorf("error %q is not ErrMissingValue", err)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q echoes a value", err)
			}
		})
	}
}

func TestReadCSVRefusesBadOverrideKind(t *testing.T) {
	_, err := ReadCSV(strings.NewReader("a\n1\n"), ReadOptions{Types: map[string]Kind{"a": "number"}})
	if err == nil || !strings.Contains(err.Error(), `column "a"`) {
		t.Fatalf("ReadCSV with an unknown kind: error %v, want one naming the column", err)
	}
}

func TestReadCSVLimits(t *testing.T) {
	const file = "a,b\n1,2\n3,4\n" // 12 bytes
	tests := []struct {
		name  string
		opts  ReadOptions
		limit *LimitError // nil: the file is accepted
	}{
		{name: "at the byte limit", opts: ReadOptions{MaxBytes: int64(len(file))}},
		{name: "one byte over", opts: ReadOptions{MaxBytes: int64(len(file)) - 1}, limit: &LimitError{Limit: int64(len(file)) - 1, Unit: "bytes"}},
		{name: "far over", opts: ReadOptions{MaxBytes: 5}, limit: &LimitError{Limit: 5, Unit: "bytes"}},
		{name: "largest byte limit", opts: ReadOptions{MaxBytes: math.MaxInt64}},
		{name: "at the column limit", opts: ReadOptions{MaxColumns: 2}},
		{name: "over the column limit", opts: ReadOptions{MaxColumns: 1}, limit: &LimitError{Limit: 1, Unit: "columns"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadCSV(strings.NewReader(file), tt.opts)
			if tt.limit == nil {
				if err != nil {
					t.Fatalf("ReadCSV: %v", err)
				}
				return
			}
			var lerr *LimitError
			if !errors.As(err, &lerr) || *lerr != *tt.limit {
				t.Fatalf("ReadCSV error %v (%T), want %v", err, err, tt.limit)
			}
		})
	}
	var lerr *LimitError
	_, err := ReadCSV(strings.NewReader(file), ReadOptions{MaxBytes: 5})
	if !errors.As(err, &lerr) || err.Error() != "file is larger than the limit of 5 bytes" {
		t.Errorf("error %q, want \"file is larger than the limit of 5 bytes\"", err)
	}
	if _, err := ReadCSV(strings.NewReader(file), ReadOptions{MaxBytes: -1}); err == nil {
		t.Errorf("ReadCSV accepted a negative limit")
	}
}

// endlessReader is an input without end, made of one repeated row.
type endlessReader struct{ off int }

func (e *endlessReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = "1,2\n"[e.off%4]
		e.off++
	}
	return len(p), nil
}

func TestReadCSVStopsReadingAtTheLimit(t *testing.T) {
	r := &countingReader{r: io.MultiReader(strings.NewReader("a,b\n"), &endlessReader{})}
	_, err := ReadCSV(r, ReadOptions{MaxBytes: 1 << 20})
	var lerr *LimitError
	if !errors.As(err, &lerr) {
		t.Fatalf("ReadCSV of an endless input: error %v, want a *LimitError", err)
	}
	if r.n > 1<<20+1 {
		t.Errorf("read %d bytes under a limit of %d", r.n, 1<<20)
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestReadCSVProgress(t *testing.T) {
	var b strings.Builder
	b.WriteString("a,b,c\n")
	for b.Len() < 5<<19 { // 2.5 MiB
		b.WriteString("12345,678.9,abcdefghij\n")
	}
	var calls []int64
	_, err := ReadCSV(iotest.HalfReader(strings.NewReader(b.String())), ReadOptions{
		Progress: func(n int64) { calls = append(calls, n) },
	})
	if err != nil {
		t.Fatalf("ReadCSV: %v", err)
	}
	if len(calls) < 2 || len(calls) > 4 {
		t.Fatalf("Progress called %d times (%v) for 2.5 MiB, want 2 to 4", len(calls), calls)
	}
	if last := calls[len(calls)-1]; last != int64(b.Len()) {
		t.Errorf("last Progress(%d), want the input's length %d", last, b.Len())
	}
	for i := 1; i < len(calls)-1; i++ {
		if calls[i]-calls[i-1] < progressStep {
			t.Errorf("Progress calls %v less than %d bytes apart", calls, progressStep)
		}
	}
}

func TestReadCSVWrapsReadErrors(t *testing.T) {
	boom := errors.New("disk on fire")
	r := io.MultiReader(strings.NewReader("a,b\n1,2\n"), iotest.ErrReader(boom))
	if _, err := ReadCSV(r, ReadOptions{}); !errors.Is(err, boom) {
		t.Fatalf("ReadCSV error %v, want it to wrap %v", err, boom)
	}
}

func TestParseErrorMessage(t *testing.T) {
	tests := []struct {
		err  ParseError
		want string
	}{
		{ParseError{Line: 17, Column: "age", Err: errNotInteger}, `line 17, column "age": value is not an integer`},
		{ParseError{Line: 3, Err: errors.New("row has 1 fields, the header has 2")}, "line 3: row has 1 fields, the header has 2"},
		{ParseError{Column: "age", Err: ErrMissingValue}, `column "age": missing values are not supported yet`},
		{ParseError{}, "malformed CSV"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

// TestReadCSVLongFiles crosses the points where ReadCSV reserves room for
// more rows, with and without knowing the input's size, and widens
// columns after that.
func TestReadCSVLongFiles(t *testing.T) {
	const rows = 3000
	var b strings.Builder
	b.WriteString("i,f,late,ts\n")
	for i := range rows {
		late := strconv.Itoa(i % 7)
		if i == rows-1 {
			late = "seven"
		}
		f := strconv.Itoa(i)
		if i == 1000 {
			f = "0.5"
		}
		fmt.Fprintf(&b, "%d,%s,%s,2024-01-02T00:00:%02dZ\n", i, f, late, i%60)
	}
	file := filepath.Join(t.TempDir(), "long.csv")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	inputs := map[string]io.Reader{
		"size known (file)":  f,
		"size unknown":       iotest.OneByteReader(strings.NewReader(b.String())),
		"size known (bytes)": strings.NewReader(b.String()),
	}
	for name, r := range inputs {
		t.Run(name, func(t *testing.T) {
			tab, err := ReadCSV(r, ReadOptions{})
			if err != nil {
				t.Fatalf("ReadCSV: %v", err)
			}
			if err := tab.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if tab.Rows != rows {
				t.Fatalf("%d rows, want %d", tab.Rows, rows)
			}
			kinds := []Kind{Integer, Float, Categorical, Timestamp}
			for j, k := range kinds {
				if got := tab.Columns[j].Kind; got != k {
					t.Errorf("column %q is %s, want %s", tab.Columns[j].Name, got, k)
				}
			}
			for i := range rows {
				if got := tab.Columns[0].Ints[i]; got != int64(i) {
					t.Fatalf("i[%d] = %d", i, got)
				}
				want := float64(i)
				if i == 1000 {
					want = 0.5
				}
				if got := tab.Columns[1].Floats[i]; got != want {
					t.Fatalf("f[%d] = %v, want %v", i, got, want)
				}
				late := tab.Columns[2]
				wantLevel := strconv.Itoa(i % 7)
				if i == rows-1 {
					wantLevel = "seven"
				}
				if got := late.Levels[late.Codes[i]]; got != wantLevel {
					t.Fatalf("late[%d] = %q, want %q", i, got, wantLevel)
				}
			}
			if got := tab.Columns[2].Levels; !reflect.DeepEqual(got, []string{"0", "1", "2", "3", "4", "5", "6", "seven"}) {
				t.Errorf("late levels %q", got)
			}
		})
	}
}
