package compute

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"unsafe"

	"github.com/trove-project/trove/dataset"
)

// frameMagic opens every frame; the 8-byte prefix is the magic and the
// header's length. See EncodeFrame for the layout.
const (
	frameMagic  = "TRV1"
	framePrefix = 8 // magic and header length
)

// frameHeader is the JSON header of a frame.
type frameHeader struct {
	Rows    int             `json:"rows"`
	Columns []frameColumn   `json:"columns"`
	Params  json.RawMessage `json:"params"`
}

// frameColumn describes one column in a frame header.
type frameColumn struct {
	Name   string   `json:"name"`
	Kind   string   `json:"kind"`
	Levels []string `json:"levels,omitempty"`
}

// align8 rounds n up to a multiple of 8.
func align8(n int) int { return (n + 7) &^ 7 }

// columnBytes is the size of a column's data in a frame, padding included.
func columnBytes(k dataset.Kind, rows int) int {
	if k == dataset.Categorical {
		return align8(4 * rows)
	}
	return 8 * rows
}

// hostLittleEndian reports whether this machine stores integers
// little-endian, so that column memory can be copied into a frame as is.
func hostLittleEndian() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}

// EncodeFrame lays t out as a frame with params in its header. It
// allocates the frame once, at its exact size, and copies each column in
// bulk. params must be empty or one JSON value.
//
// # Guest ABI
//
// A module is a WASI preview 1 command (it exports _start and memory and
// imports nothing but wasi_snapshot_preview1). It reads one frame on stdin
// and writes one JSON document on stdout; anything on stderr is kept, up to
// a cap, for the owner to read. Exit code 0 means success.
//
// The frame is laid out so that a guest can allocate once and read the
// columns in place, without decoding values one by one:
//
//	offset 0   "TRV1"                     magic
//	offset 4   uint32 little-endian H     length of the JSON header
//	offset 8   H bytes of JSON header     see below
//	           zero bytes up to the next multiple of 8 (from frame start)
//	           each column in header order, each starting 8-byte aligned:
//	             float                N float64, little-endian
//	             integer, timestamp   N int64, little-endian (timestamps in Unix ns, UTC)
//	             categorical          N uint32 codes, little-endian, indexes into levels,
//	                                  then zero bytes up to a multiple of 8
//
// The header is
//
//	{"rows":N,"columns":[{"name":"...","kind":"float|integer|categorical|timestamp",
//	  "levels":["..."]}],"params":{...} or null}
//
// where "levels" appears for categorical columns only (and may be absent when
// the column has no levels) and "params" is the requester's parameters as
// given in the job, or null. Nothing follows the last column.
//
// Package guest reads frames for algorithms written in Go.
func EncodeFrame(t *dataset.Table, params json.RawMessage) ([]byte, error) {
	return encodeFrame(t, params, hostLittleEndian())
}

func encodeFrame(t *dataset.Table, params json.RawMessage, native bool) ([]byte, error) {
	if t == nil {
		return nil, fmt.Errorf("encode frame: no table: %w", ErrBadInput)
	}
	if t.Rows < 0 {
		return nil, fmt.Errorf("encode frame: negative row count: %w", ErrBadInput)
	}
	h := frameHeader{Rows: t.Rows, Columns: make([]frameColumn, len(t.Columns))}
	if len(bytes.TrimSpace(params)) > 0 {
		if !json.Valid(params) {
			return nil, fmt.Errorf("encode frame: params are not one JSON value: %w", ErrBadInput)
		}
		h.Params = params
	}
	seen := make(map[string]bool, len(t.Columns))
	data := 0
	for i := range t.Columns {
		c := &t.Columns[i]
		if seen[c.Name] {
			return nil, fmt.Errorf("encode frame: column %q appears twice: %w", c.Name, ErrBadInput)
		}
		seen[c.Name] = true
		if _, err := dataset.ParseKind(string(c.Kind)); err != nil {
			return nil, fmt.Errorf("encode frame: column %q: %w: %w", c.Name, err, ErrBadInput)
		}
		if c.Len() != t.Rows {
			return nil, fmt.Errorf("encode frame: column %q has %d values for %d rows: %w", c.Name, c.Len(), t.Rows, ErrBadInput)
		}
		if c.Kind != dataset.Categorical && len(c.Levels) > 0 {
			return nil, fmt.Errorf("encode frame: column %q of kind %s has levels: %w", c.Name, c.Kind, ErrBadInput)
		}
		h.Columns[i] = frameColumn{Name: c.Name, Kind: string(c.Kind), Levels: c.Levels}
		data += columnBytes(c.Kind, t.Rows)
	}
	var hb bytes.Buffer
	enc := json.NewEncoder(&hb)
	enc.SetEscapeHTML(false) // pass params through as given
	if err := enc.Encode(h); err != nil {
		return nil, fmt.Errorf("encode frame: header: %w: %w", err, ErrBadInput)
	}
	header := bytes.TrimSuffix(hb.Bytes(), []byte("\n"))
	if len(header) > math.MaxUint32 {
		return nil, fmt.Errorf("encode frame: header of %d bytes is too large: %w", len(header), ErrBadInput)
	}
	off := align8(framePrefix + len(header))
	frame := make([]byte, off+data)
	copy(frame, frameMagic)
	binary.LittleEndian.PutUint32(frame[4:], uint32(len(header)))
	copy(frame[framePrefix:], header)
	for i := range t.Columns {
		c := &t.Columns[i]
		putColumn(frame[off:], c, native)
		off += columnBytes(c.Kind, t.Rows)
	}
	return frame, nil
}

// putColumn writes c's values at the start of dst, little-endian. native
// says the host is little-endian, so the column's memory is copied as is.
func putColumn(dst []byte, c *dataset.Column, native bool) {
	switch c.Kind {
	case dataset.Float:
		if native {
			copy(dst, asBytes(c.Floats))
			return
		}
		for i, v := range c.Floats {
			binary.LittleEndian.PutUint64(dst[8*i:], math.Float64bits(v))
		}
	case dataset.Integer, dataset.Timestamp:
		if native {
			copy(dst, asBytes(c.Ints))
			return
		}
		for i, v := range c.Ints {
			binary.LittleEndian.PutUint64(dst[8*i:], uint64(v))
		}
	case dataset.Categorical:
		if native {
			copy(dst, asBytes(c.Codes))
			return
		}
		for i, v := range c.Codes {
			binary.LittleEndian.PutUint32(dst[4*i:], v)
		}
	}
}

// asBytes views the memory of s as bytes, without copying.
func asBytes[T float64 | int64 | uint32](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(s[0])))
}

// DecodeFrame parses a frame made by EncodeFrame into a table and the
// params of its header (nil when they are null). It is strict, because a
// frame may come from anywhere: every length is checked against the bytes
// present, padding must be zero, categorical codes must name a level, and
// nothing may follow the last column. The table owns its memory.
func DecodeFrame(frame []byte) (*dataset.Table, json.RawMessage, error) {
	return decodeFrame(frame, hostLittleEndian())
}

func decodeFrame(frame []byte, native bool) (*dataset.Table, json.RawMessage, error) {
	if len(frame) < framePrefix || string(frame[:4]) != frameMagic {
		return nil, nil, fmt.Errorf("decode frame: no %s magic", frameMagic)
	}
	hlen := uint64(binary.LittleEndian.Uint32(frame[4:]))
	if hlen > uint64(len(frame)-framePrefix) {
		return nil, nil, fmt.Errorf("decode frame: header of %d bytes overruns a frame of %d", hlen, len(frame))
	}
	var h frameHeader
	raw := frame[framePrefix : framePrefix+int(hlen)]
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return nil, nil, fmt.Errorf("decode frame: header: %w", err)
	}
	if len(bytes.TrimSpace(raw[dec.InputOffset():])) != 0 {
		return nil, nil, fmt.Errorf("decode frame: header: data after the JSON object")
	}
	if h.Rows < 0 {
		return nil, nil, fmt.Errorf("decode frame: negative row count")
	}
	off := framePrefix + int(hlen)
	pad := align8(off)
	if pad > len(frame) {
		return nil, nil, fmt.Errorf("decode frame: truncated after the header")
	}
	if !allZero(frame[off:pad]) {
		return nil, nil, fmt.Errorf("decode frame: non-zero padding after the header")
	}
	off = pad
	t := &dataset.Table{Rows: h.Rows, Columns: make([]dataset.Column, len(h.Columns))}
	seen := make(map[string]bool, len(h.Columns))
	for i, fc := range h.Columns {
		kind, err := dataset.ParseKind(fc.Kind)
		if err != nil {
			return nil, nil, fmt.Errorf("decode frame: column %d: %w", i, err)
		}
		if seen[fc.Name] {
			return nil, nil, fmt.Errorf("decode frame: column %q appears twice", fc.Name)
		}
		seen[fc.Name] = true
		if kind != dataset.Categorical && fc.Levels != nil {
			return nil, nil, fmt.Errorf("decode frame: column %q of kind %s has levels", fc.Name, kind)
		}
		width := 8
		if kind == dataset.Categorical {
			width = 4
		}
		if h.Rows > (len(frame)-off)/width {
			return nil, nil, fmt.Errorf("decode frame: column %q: truncated", fc.Name)
		}
		size := columnBytes(kind, h.Rows)
		if size > len(frame)-off {
			return nil, nil, fmt.Errorf("decode frame: column %q: truncated", fc.Name)
		}
		src := frame[off : off+size]
		off += size
		c := dataset.Column{Name: fc.Name, Kind: kind, Levels: fc.Levels}
		switch kind {
		case dataset.Float:
			c.Floats = make([]float64, h.Rows)
			if native {
				copy(asBytes(c.Floats), src)
			} else {
				for j := range c.Floats {
					c.Floats[j] = math.Float64frombits(binary.LittleEndian.Uint64(src[8*j:]))
				}
			}
		case dataset.Integer, dataset.Timestamp:
			c.Ints = make([]int64, h.Rows)
			if native {
				copy(asBytes(c.Ints), src)
			} else {
				for j := range c.Ints {
					c.Ints[j] = int64(binary.LittleEndian.Uint64(src[8*j:]))
				}
			}
		case dataset.Categorical:
			c.Codes = make([]uint32, h.Rows)
			if native {
				copy(asBytes(c.Codes), src)
			} else {
				for j := range c.Codes {
					c.Codes[j] = binary.LittleEndian.Uint32(src[4*j:])
				}
			}
			if !allZero(src[4*h.Rows:]) {
				return nil, nil, fmt.Errorf("decode frame: column %q: non-zero padding", fc.Name)
			}
			for j, code := range c.Codes {
				if uint64(code) >= uint64(len(c.Levels)) {
					return nil, nil, fmt.Errorf("decode frame: column %q: row %d: code names no level", fc.Name, j)
				}
			}
		}
		t.Columns[i] = c
	}
	if off != len(frame) {
		return nil, nil, fmt.Errorf("decode frame: %d bytes after the last column", len(frame)-off)
	}
	var params json.RawMessage
	if p := bytes.TrimSpace(h.Params); len(p) > 0 && !bytes.Equal(p, []byte("null")) {
		params = p
	}
	return t, params, nil
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}
