package dataset

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"slices"
	"strings"
)

// Defaults for ReadOptions.
const (
	DefaultMaxBytes   = 256 << 20 // 256 MiB
	DefaultMaxColumns = 1024
)

// progressStep is how many bytes ReadCSV reads between Progress calls.
const progressStep = 1 << 20

// ReadOptions tunes ReadCSV. The zero value infers every column's kind
// under the default limits.
type ReadOptions struct {
	// Types forces the kind of the named columns instead of inferring it;
	// a value that does not parse as the forced kind is an error.
	Types map[string]Kind
	// MaxBytes is the largest input accepted; 0 means DefaultMaxBytes.
	MaxBytes int64
	// MaxColumns is the largest number of columns accepted; 0 means
	// DefaultMaxColumns.
	MaxColumns int
	// Progress, if set, is called with the number of bytes read so far
	// after each further MiB, and once when the input ends.
	Progress func(bytesRead int64)
}

// ReadCSV reads a CSV file with a header row into a Table.
//
// Each column's kind is inferred from all its values, unless opts.Types
// forces it: integer if every non-empty value is a base-10 int64, else
// float if every one is a finite number, else timestamp if every one is
// RFC 3339, "2006-01-02" or "2006-01-02 15:04:05" (the last two in UTC),
// else categorical, whose levels are kept in order of first appearance. A
// column with no non-empty value is categorical. An empty value in a
// numeric or timestamp column is an error (ErrMissingValue).
//
// Malformed input (no header or no data row, an empty or duplicate header
// name, a ragged row, a quoting error, a value that does not fit its
// forced kind) yields a *ParseError naming the line and, for a field, the
// column, and never quoting the value. Input over a limit yields a
// *LimitError. No partial table is ever returned.
//
// ReadCSV holds a copy of the input in memory while it runs, so that a
// column found categorical late in the file can be re-read; numeric and
// timestamp columns are parsed straight into their value slices.
func ReadCSV(r io.Reader, opts ReadOptions) (*Table, error) {
	maxBytes, maxColumns, err := opts.limits()
	if err != nil {
		return nil, err
	}
	size := sizeHint(r, maxBytes)
	src := &limitReader{r: r, max: maxBytes, progress: opts.Progress, next: progressStep}
	var raw bytes.Buffer
	raw.Grow(int(size))
	in := bufio.NewReaderSize(io.TeeReader(src, &raw), 64<<10)
	if err := skipBOM(in); err != nil {
		return nil, readError(err)
	}
	cr := newCSVReader(in)
	header, err := cr.Read()
	if err == io.EOF {
		return nil, &ParseError{Line: 1, Err: errors.New("the file is empty: a header row is required")}
	}
	if err != nil {
		return nil, readError(err)
	}
	cols, err := newBuilders(cr, header, opts.Types, maxColumns)
	if err != nil {
		return nil, err
	}
	headerLine, _ := cr.FieldPos(0)

	rows := 0
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, readError(err)
		}
		if len(rec) != len(cols) {
			line, _ := cr.FieldPos(0)
			return nil, &ParseError{Line: line, Err: fmt.Errorf("row has %d fields, the header has %d", len(rec), len(cols))}
		}
		for j, v := range rec {
			b := &cols[j]
			if v == "" && b.emptyLine == 0 {
				b.emptyLine, _ = cr.FieldPos(j)
			}
			if err := b.add(v, rows); err != nil {
				line, _ := cr.FieldPos(j)
				return nil, &ParseError{Line: line, Column: b.name, Err: err}
			}
		}
		rows++
		if rows >= 256 && rows&(rows-1) == 0 {
			reserve(cols, rows, estimateRows(rows, cr.InputOffset(), size))
		}
	}
	if rows == 0 {
		return nil, &ParseError{Line: headerLine + 1, Err: errors.New("the file has a header but no data rows")}
	}
	if err := fillDeferred(raw.Bytes(), cols, rows); err != nil {
		return nil, err
	}

	t := &Table{Rows: rows, Columns: make([]Column, len(cols))}
	var first *ParseError // report the earliest missing value in the file
	for j := range cols {
		c, line, err := cols[j].column(rows)
		if err != nil {
			if first == nil || line < first.Line {
				first = &ParseError{Line: line, Column: cols[j].name, Err: err}
			}
			continue
		}
		t.Columns[j] = c
	}
	if first != nil {
		return nil, first
	}
	return t, nil
}

// sizeHint returns the size of r's input if r can tell it cheaply (a
// bytes or strings reader, a regular file), capped at max; else 0.
func sizeHint(r io.Reader, max int64) int64 {
	var n int64
	switch r := r.(type) {
	case interface{ Len() int }:
		n = int64(r.Len())
	case interface{ Stat() (fs.FileInfo, error) }:
		if fi, err := r.Stat(); err == nil && fi.Mode().IsRegular() {
			n = fi.Size()
		}
	}
	return min(n, max)
}

// estimateRows guesses how many rows an input of size bytes holds from
// the rows read in its first offset bytes; 0 if size is unknown.
func estimateRows(rows int, offset, size int64) int {
	if size <= offset || offset <= 0 {
		return 0
	}
	rest := float64(size-offset) * float64(rows) / float64(offset)
	return rows + int(rest*1.05) + 16
}

// reserve makes room in every column for the values still to come, so
// that appending does not copy a long column many times over: room for
// the estimated total of rows if known, else for as many rows again.
// ReadCSV calls it when rows is a power of two, which makes growth
// geometric (each value copied about once) even without an estimate.
func reserve(cols []builder, rows, estimate int) {
	want := 2 * rows
	if estimate > rows {
		want = estimate
	}
	for j := range cols {
		cols[j].reserve(want)
	}
}

// limits returns the options' limits with defaults applied.
func (o ReadOptions) limits() (maxBytes int64, maxColumns int, err error) {
	maxBytes, maxColumns = o.MaxBytes, o.MaxColumns
	if maxBytes < 0 || maxColumns < 0 {
		return 0, 0, fmt.Errorf("read csv: negative limit (MaxBytes %d, MaxColumns %d)", maxBytes, maxColumns)
	}
	if maxBytes == 0 {
		maxBytes = DefaultMaxBytes
	}
	if maxColumns == 0 {
		maxColumns = DefaultMaxColumns
	}
	return maxBytes, maxColumns, nil
}

func newCSVReader(r io.Reader) *csv.Reader {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // checked by ReadCSV, to name the line in its own words
	cr.ReuseRecord = true
	return cr
}

// skipBOM drops the byte order mark that spreadsheet programs put at the
// start of a UTF-8 file, which would otherwise become part of the first
// column's name.
func skipBOM(r *bufio.Reader) error {
	b, err := r.Peek(3)
	if err != nil && err != io.EOF {
		return err
	}
	if string(b) == bom {
		_, err = r.Discard(len(bom))
		return err
	}
	return nil
}

// bom is the UTF-8 byte order mark.
const bom = "\uFEFF"

// newBuilders checks the header and the type overrides and returns one
// builder per column.
func newBuilders(cr *csv.Reader, header []string, types map[string]Kind, maxColumns int) ([]builder, error) {
	line, _ := cr.FieldPos(0)
	if len(header) > maxColumns {
		return nil, &LimitError{Limit: int64(maxColumns), Unit: unitColumns}
	}
	cols := make([]builder, len(header))
	seen := make(map[string]bool, len(header))
	for j, name := range header {
		if strings.TrimSpace(name) == "" {
			return nil, &ParseError{Line: line, Err: fmt.Errorf("header: column %d: empty name", j+1)}
		}
		if seen[name] {
			return nil, &ParseError{Line: line, Err: fmt.Errorf("header: column %d: duplicate name %q", j+1, name)}
		}
		seen[name] = true
		// header is reused by the next Read; the name must outlive it.
		cols[j].name = strings.Clone(name)
	}
	for _, name := range slices.Sorted(maps.Keys(types)) {
		kind, err := ParseKind(string(types[name]))
		if err != nil {
			return nil, fmt.Errorf("type override for column %q: %w", name, err)
		}
		j := slices.Index(header, name)
		if j < 0 {
			return nil, &ParseError{Line: line, Column: name, Err: errors.New("a type is given for this column but the header has no such column")}
		}
		cols[j].kind, cols[j].forced = kind, true
	}
	return cols, nil
}

// fillDeferred encodes the deferred columns (those found categorical after
// values of another kind) from a second read of the input, which has
// already been read once without error.
func fillDeferred(input []byte, cols []builder, rows int) error {
	var deferred []int
	for j := range cols {
		if cols[j].deferred {
			deferred = append(deferred, j)
		}
	}
	if len(deferred) == 0 {
		return nil
	}
	cr := newCSVReader(bytes.NewReader(bytes.TrimPrefix(input, []byte(bom))))
	if _, err := cr.Read(); err != nil {
		return fmt.Errorf("read csv again for categorical columns: header: %w", err)
	}
	for j := range deferred {
		cols[deferred[j]].dict = dictionary{codes: make([]uint32, 0, rows)}
	}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read csv again for categorical columns: %w", err)
		}
		for _, j := range deferred {
			if err := cols[j].dict.add(rec[j]); err != nil {
				line, _ := cr.FieldPos(j)
				return &ParseError{Line: line, Column: cols[j].name, Err: err}
			}
		}
	}
	for _, j := range deferred {
		if n := len(cols[j].dict.codes); n != rows {
			return fmt.Errorf("read csv again for categorical columns: column %q: %d rows, want %d", cols[j].name, n, rows)
		}
	}
	return nil
}

// readError turns an error from the CSV reader into ReadCSV's own.
func readError(err error) error {
	var limit *LimitError
	if errors.As(err, &limit) {
		return limit
	}
	var perr *csv.ParseError
	if errors.As(err, &perr) {
		return &ParseError{Line: perr.Line, Err: perr.Err}
	}
	return fmt.Errorf("read csv: %w", err)
}

// limitReader counts the bytes read from r, fails once they exceed max,
// and reports progress.
type limitReader struct {
	r        io.Reader
	n, max   int64
	progress func(int64)
	next     int64 // report progress when n reaches it
	done     bool  // the final report was made
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n > l.max {
		return 0, &LimitError{Limit: l.max, Unit: unitBytes}
	}
	// Ask for at most one byte beyond the limit: enough to know it is
	// exceeded, without reading on.
	if rest := l.max - l.n; int64(len(p)) > rest {
		p = p[:rest+1] // rest < len(p): no overflow even at MaxInt64
	}
	k, err := l.r.Read(p)
	l.n += int64(k)
	if l.n > l.max {
		return 0, &LimitError{Limit: l.max, Unit: unitBytes}
	}
	if l.progress != nil && !l.done {
		switch {
		case err == io.EOF:
			l.done = true
			l.progress(l.n)
		case l.n >= l.next:
			l.progress(l.n)
			l.next = l.n + progressStep
		}
	}
	return k, err
}
