package dataset

import (
	"errors"
	"fmt"
	"strings"
)

// ErrMissingValue is the cause of a ParseError for an empty value in a
// numeric or timestamp column. Such columns cannot yet represent a missing
// value; an empty value in a categorical column is the level "".
var ErrMissingValue = errors.New("missing values are not supported yet")

// ParseError reports where a CSV file is malformed: the line (1-based, the
// header being line 1 unless blank lines precede it) and, when the problem
// is in one field, the column's name. Its message never contains a value
// from the file, since values are personal data; the line and the column
// are enough for the owner to find it.
type ParseError struct {
	Line   int    // 1-based line in the file, 0 when not known
	Column string // the column's header name, "" when the whole row is at fault
	Err    error  // what is wrong
}

// Error returns "line L, column "C": what is wrong", omitting the parts
// that are not known.
func (e *ParseError) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d", e.Line)
	}
	if e.Column != "" {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "column %q", e.Column)
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	} else {
		b.WriteString("malformed CSV")
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *ParseError) Unwrap() error { return e.Err }

// LimitError reports input over one of ReadCSV's limits: Limit bytes
// (MaxBytes) or Limit columns (MaxColumns).
type LimitError struct {
	Limit int64
	Unit  string // "bytes" or "columns"
}

// Error says which limit was exceeded.
func (e *LimitError) Error() string {
	if e.Unit == unitBytes {
		return fmt.Sprintf("file is larger than the limit of %d bytes", e.Limit)
	}
	return fmt.Sprintf("file has more than the limit of %d %s", e.Limit, e.Unit)
}

const (
	unitBytes   = "bytes"
	unitColumns = "columns"
)
