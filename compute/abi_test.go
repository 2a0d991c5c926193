package compute

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/trove-project/trove/dataset"
)

// equalTables compares tables, taking nil and empty slices as equal.
func equalTables(a, b *dataset.Table) bool {
	if a.Rows != b.Rows || len(a.Columns) != len(b.Columns) {
		return false
	}
	for i := range a.Columns {
		x, y := &a.Columns[i], &b.Columns[i]
		if x.Name != y.Name || x.Kind != y.Kind || len(x.Levels) != len(y.Levels) ||
			len(x.Floats) != len(y.Floats) || len(x.Ints) != len(y.Ints) || len(x.Codes) != len(y.Codes) {
			return false
		}
		for j := range x.Floats { // bitwise, so NaN equals NaN
			if math.Float64bits(x.Floats[j]) != math.Float64bits(y.Floats[j]) {
				return false
			}
		}
		if (len(x.Levels) > 0 && !reflect.DeepEqual(x.Levels, y.Levels)) ||
			(len(x.Ints) > 0 && !reflect.DeepEqual(x.Ints, y.Ints)) ||
			(len(x.Codes) > 0 && !reflect.DeepEqual(x.Codes, y.Codes)) {
			return false
		}
	}
	return true
}

func TestFrameRoundTrip(t *testing.T) {
	for _, rows := range []int{0, 1, 7} {
		tab := sampleTable(rows)
		params := json.RawMessage(`{"bins":10}`)
		for _, native := range []bool{true, false} {
			frame, err := encodeFrame(tab, params, native)
			if err != nil {
				t.Fatal(err)
			}
			got, gotParams, err := decodeFrame(frame, native)
			if err != nil {
				t.Fatalf("rows %d native %v: %v", rows, native, err)
			}
			if !equalTables(tab, got) {
				t.Errorf("rows %d native %v: table changed in a round trip", rows, native)
			}
			if string(gotParams) != string(params) {
				t.Errorf("params = %s, want %s", gotParams, params)
			}
		}
	}
}

// The bulk copy and the value-by-value fallback must lay out the same bytes.
func TestFrameEncodeFallbackSameBytes(t *testing.T) {
	tab := sampleTable(5)
	tab.Columns[0].Floats[1] = math.NaN()
	tab.Columns[0].Floats[2] = math.Inf(-1)
	a, err := encodeFrame(tab, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	b, err := encodeFrame(tab, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("bulk and fallback encodings differ")
	}
}

// The layout is the ABI guests rely on; check it byte by byte.
func TestFrameLayout(t *testing.T) {
	tab := sampleTable(3)
	frame, err := EncodeFrame(tab, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(frame[:4]) != "TRV1" {
		t.Fatalf("magic = %q", frame[:4])
	}
	h := int(binary.LittleEndian.Uint32(frame[4:8]))
	var hdr map[string]any
	if err := json.Unmarshal(frame[8:8+h], &hdr); err != nil {
		t.Fatal(err)
	}
	if hdr["rows"] != 3.0 || hdr["params"] != nil {
		t.Errorf("header = %v", hdr)
	}
	cols := hdr["columns"].([]any)
	if c := cols[3].(map[string]any); c["kind"] != "categorical" || len(c["levels"].([]any)) != 3 {
		t.Errorf("categorical column in header = %v", c)
	}
	if _, ok := cols[0].(map[string]any)["levels"]; ok {
		t.Error("float column has levels in the header")
	}
	off := (8 + h + 7) / 8 * 8
	for i := 8 + h; i < off; i++ {
		if frame[i] != 0 {
			t.Fatalf("padding byte %d = %d", i, frame[i])
		}
	}
	for i, want := range tab.Columns[0].Floats {
		if got := math.Float64frombits(binary.LittleEndian.Uint64(frame[off+8*i:])); got != want {
			t.Errorf("float %d = %v, want %v", i, got, want)
		}
	}
	off += 8 * 3
	for i, want := range tab.Columns[1].Ints {
		if got := int64(binary.LittleEndian.Uint64(frame[off+8*i:])); got != want {
			t.Errorf("int %d = %v, want %v", i, got, want)
		}
	}
	off += 2 * 8 * 3 // integer and timestamp
	for i, want := range tab.Columns[3].Codes {
		if got := binary.LittleEndian.Uint32(frame[off+4*i:]); got != want {
			t.Errorf("code %d = %v, want %v", i, got, want)
		}
	}
	if off+16 != len(frame) { // 3 codes padded to 16 bytes
		t.Errorf("frame is %d bytes, want %d", len(frame), off+16)
	}
}

func TestEncodeFrameRefuses(t *testing.T) {
	tests := []struct {
		name   string
		change func(*dataset.Table)
		params string
	}{
		{"short column", func(t *dataset.Table) { t.Columns[0].Floats = t.Columns[0].Floats[:2] }, ""},
		{"unknown kind", func(t *dataset.Table) { t.Columns[0].Kind = "complex" }, ""},
		{"duplicate name", func(t *dataset.Table) { t.Columns[1].Name = "x" }, ""},
		{"levels on a float column", func(t *dataset.Table) { t.Columns[0].Levels = []string{"a"} }, ""},
		{"negative rows", func(t *dataset.Table) { t.Rows = -1 }, ""},
		{"params not JSON", func(*dataset.Table) {}, `{"a":`},
		{"two params", func(*dataset.Table) {}, `{} {}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := sampleTable(3)
			tt.change(tab)
			if _, err := EncodeFrame(tab, json.RawMessage(tt.params)); !errors.Is(err, ErrBadInput) {
				t.Fatalf("err = %v, want ErrBadInput", err)
			}
		})
	}
	if _, err := EncodeFrame(nil, nil); !errors.Is(err, ErrBadInput) {
		t.Errorf("nil table: err = %v", err)
	}
}

// frameWithHeader builds a frame around a raw header and raw column bytes.
func frameWithHeader(header string, data []byte) []byte {
	f := append([]byte("TRV1"), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(f[4:], uint32(len(header)))
	f = append(f, header...)
	for len(f)%8 != 0 {
		f = append(f, 0)
	}
	return append(f, data...)
}

func TestDecodeFrameRefuses(t *testing.T) {
	good, err := EncodeFrame(sampleTable(3), json.RawMessage(`{"k":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := DecodeFrame(good); err != nil {
		t.Fatalf("good frame refused: %v", err)
	}
	hlen := int(binary.LittleEndian.Uint32(good[4:]))
	mutate := func(f func([]byte) []byte) []byte { return f(bytes.Clone(good)) }
	eight := make([]byte, 8)
	tests := []struct {
		name  string
		frame []byte
		want  string
	}{
		{"empty", nil, "magic"},
		{"bad magic", mutate(func(b []byte) []byte { b[0] = 'X'; return b }), "magic"},
		{"header overruns", mutate(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[4:], uint32(len(b))); return b }), "overruns"},
		{"truncated", good[:len(good)-1], "truncated"},
		{"trailing byte", append(bytes.Clone(good), 0), "after the last column"},
		{"non-zero header padding", mutate(func(b []byte) []byte {
			if (8+hlen)%8 == 0 {
				t.Fatal("test frame has no header padding")
			}
			b[8+hlen] = 1
			return b
		}), "padding"},
		{"non-zero column padding", mutate(func(b []byte) []byte { b[len(b)-1] = 1; return b }), "padding"},
		{"code names no level", mutate(func(b []byte) []byte { b[len(b)-16] = 9; return b }), "no level"},
		{"unknown kind", frameWithHeader(`{"rows":1,"columns":[{"name":"a","kind":"complex"}],"params":null}`, eight), "unknown column kind"},
		{"duplicate column", frameWithHeader(`{"rows":1,"columns":[{"name":"a","kind":"float"},{"name":"a","kind":"float"}],"params":null}`, append(eight, eight...)), "twice"},
		{"levels on float", frameWithHeader(`{"rows":1,"columns":[{"name":"a","kind":"float","levels":["x"]}],"params":null}`, eight), "has levels"},
		{"negative rows", frameWithHeader(`{"rows":-1,"columns":[],"params":null}`, nil), "negative"},
		{"unknown field", frameWithHeader(`{"rows":0,"columns":[],"params":null,"extra":1}`, nil), "unknown field"},
		{"two headers", frameWithHeader(`{"rows":0,"columns":[]} {}`, nil), "after the JSON"},
		{"huge rows", frameWithHeader(`{"rows":9223372036854775807,"columns":[{"name":"a","kind":"float"}]}`, eight), "truncated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := DecodeFrame(tt.frame)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one saying %q", err, tt.want)
			}
		})
	}
}

func FuzzDecodeFrame(f *testing.F) {
	for _, rows := range []int{0, 1, 3} {
		frame, err := EncodeFrame(sampleTable(rows), json.RawMessage(`{"p":[1,2]}`))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(frame)
	}
	f.Add(frameWithHeader(`{"rows":1,"columns":[{"name":"a","kind":"categorical","levels":[]}]}`, make([]byte, 8)))
	f.Fuzz(func(t *testing.T, frame []byte) {
		tab, params, err := DecodeFrame(frame)
		if err != nil {
			return
		}
		// What decodes must encode, and decode again to the same table.
		again, err := EncodeFrame(tab, params)
		if err != nil {
			t.Fatalf("decoded table does not encode: %v", err)
		}
		tab2, params2, err := DecodeFrame(again)
		if err != nil {
			t.Fatalf("re-encoded frame does not decode: %v", err)
		}
		if !equalTables(tab, tab2) || !bytes.Equal(compact(t, params), compact(t, params2)) {
			t.Fatal("table changed in a second round trip")
		}
	})
}

// benchTable is 8 float64 columns of 1,000,000 rows (64 MB of values).
func benchTable() *dataset.Table {
	const rows, cols = 1_000_000, 8
	t := &dataset.Table{Rows: rows}
	for c := range cols {
		xs := make([]float64, rows)
		for i := range xs {
			xs[i] = float64(i*cols + c)
		}
		t.Columns = append(t.Columns, dataset.Column{Name: string(rune('a' + c)), Kind: dataset.Float, Floats: xs})
	}
	return t
}

func compact(t *testing.T, raw json.RawMessage) []byte {
	if raw == nil {
		return nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
