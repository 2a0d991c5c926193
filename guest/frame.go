package guest

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"unsafe"
)

// The kinds of column a frame holds.
const (
	Float       = "float"       // float64 values
	Integer     = "integer"     // int64 values
	Categorical = "categorical" // uint32 codes into Levels
	Timestamp   = "timestamp"   // int64 Unix nanoseconds, UTC
)

// maxHeader bounds the JSON header a frame may announce.
const maxHeader = 64 << 20

// Frame is the input of a job: a table and the requester's parameters.
type Frame struct {
	// Rows is the number of values in every column.
	Rows int
	// Columns are the columns, in the order the frame holds them.
	Columns []Column
	// Params are the requester's parameters, or nil.
	Params json.RawMessage
}

// Column is one column of a frame. Its values are read in place through
// Floats, Ints or Codes, whichever its Kind says.
type Column struct {
	// Name is the column's name.
	Name string
	// Kind is one of Float, Integer, Categorical and Timestamp.
	Kind string
	// Levels are the strings a categorical column's codes index.
	Levels []string

	rows int
	data unsafe.Pointer // 8-byte aligned start of the column in the frame
}

// Floats returns the values of a Float column, as a view of the frame; nil
// for any other kind.
func (c *Column) Floats() []float64 {
	if c.Kind != Float || c.rows == 0 {
		return nil
	}
	return unsafe.Slice((*float64)(c.data), c.rows)
}

// Ints returns the values of an Integer or Timestamp column, as a view of
// the frame; nil for any other kind.
func (c *Column) Ints() []int64 {
	if (c.Kind != Integer && c.Kind != Timestamp) || c.rows == 0 {
		return nil
	}
	return unsafe.Slice((*int64)(c.data), c.rows)
}

// Codes returns the codes of a Categorical column, as a view of the frame;
// nil for any other kind.
func (c *Column) Codes() []uint32 {
	if c.Kind != Categorical || c.rows == 0 {
		return nil
	}
	return unsafe.Slice((*uint32)(c.data), c.rows)
}

// Column returns the column called name, or nil.
func (f *Frame) Column(name string) *Column {
	for i := range f.Columns {
		if f.Columns[i].Name == name {
			return &f.Columns[i]
		}
	}
	return nil
}

// Read reads the job's frame from stdin.
func Read() (*Frame, error) { return ReadFrom(os.Stdin) }

// ReadFrom reads a frame from r: the prefix and the header first, then all
// the columns at once into one buffer allocated at their exact size.
func ReadFrom(r io.Reader) (*Frame, error) {
	if !littleEndian() {
		return nil, errors.New("read frame: column views need a little-endian machine")
	}
	var prefix [8]byte
	if _, err := io.ReadFull(r, prefix[:]); err != nil {
		return nil, fmt.Errorf("read frame: prefix: %w", err)
	}
	if string(prefix[:4]) != "TRV1" {
		return nil, errors.New("read frame: no TRV1 magic")
	}
	hlen := binary.LittleEndian.Uint32(prefix[4:])
	if hlen > maxHeader {
		return nil, fmt.Errorf("read frame: header of %d bytes is too large", hlen)
	}
	pad := (8 - (8+int(hlen))%8) % 8
	header := make([]byte, int(hlen)+pad)
	if _, err := io.ReadFull(r, header); err != nil {
		return nil, fmt.Errorf("read frame: header: %w", err)
	}
	var h struct {
		Rows    int `json:"rows"`
		Columns []struct {
			Name   string   `json:"name"`
			Kind   string   `json:"kind"`
			Levels []string `json:"levels"`
		} `json:"columns"`
		Params json.RawMessage `json:"params"`
	}
	if err := json.Unmarshal(header[:hlen], &h); err != nil {
		return nil, fmt.Errorf("read frame: header: %w", err)
	}
	if h.Rows < 0 {
		return nil, errors.New("read frame: negative row count")
	}
	f := &Frame{Rows: h.Rows, Columns: make([]Column, len(h.Columns))}
	if string(h.Params) != "null" {
		f.Params = h.Params
	}
	words := 0 // 8-byte words of column data
	for i, hc := range h.Columns {
		n, err := columnWords(hc.Kind, h.Rows)
		if err != nil {
			return nil, fmt.Errorf("read frame: column %q: %w", hc.Name, err)
		}
		f.Columns[i] = Column{Name: hc.Name, Kind: hc.Kind, Levels: hc.Levels, rows: h.Rows}
		words += n
	}
	// One allocation for every column, as words so that it is 8-byte aligned.
	buf := make([]uint64, words)
	if words > 0 {
		if _, err := io.ReadFull(r, unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), 8*words)); err != nil {
			return nil, fmt.Errorf("read frame: columns: %w", err)
		}
	}
	off := 0
	for i := range f.Columns {
		c := &f.Columns[i]
		n, _ := columnWords(c.Kind, c.rows)
		if n > 0 {
			c.data = unsafe.Pointer(&buf[off])
		}
		off += n
	}
	return f, nil
}

// columnWords is the size of a column in 8-byte words.
func columnWords(kind string, rows int) (int, error) {
	switch kind {
	case Float, Integer, Timestamp:
		return rows, nil
	case Categorical:
		return (rows + 1) / 2, nil
	}
	return 0, fmt.Errorf("unknown kind %q", kind)
}

func littleEndian() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}

// WriteResult writes v as the job's result: JSON on stdout.
func WriteResult(v any) error { return WriteResultTo(os.Stdout, v) }

// WriteResultTo writes v as JSON to w, in one write.
func WriteResultTo(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	return nil
}
