package consent

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// MaxDepth is how deeply the JSON of a token may nest objects and arrays.
const MaxDepth = 10

// checkJSON accepts exactly one JSON object, nested at most maxDepth deep,
// in which no object has two keys that encoding/json would take for the
// same (equal up to Unicode case folding). Two readers of a token with
// duplicate keys can each see a different claim; trove refuses the token
// instead of picking one.
func checkJSON(data []byte, maxDepth int) error {
	type frame struct {
		object  bool
		wantKey bool
		keys    map[string]struct{}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var stack []frame
	done := false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			if !done {
				return errors.New("truncated JSON")
			}
			return nil
		}
		if err != nil {
			return errors.New("malformed JSON")
		}
		if done {
			return errors.New("data after the JSON object")
		}
		if len(stack) == 0 {
			if d, ok := tok.(json.Delim); !ok || d != '{' {
				return errors.New("not a JSON object")
			}
		}
		if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].wantKey {
			top := &stack[n-1]
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:n-1]
				done = len(stack) == 0
				continue
			}
			key, ok := tok.(string)
			if !ok {
				return errors.New("malformed JSON")
			}
			folded := foldKey(key)
			if _, dup := top.keys[folded]; dup {
				return errors.New("duplicate key")
			}
			if top.keys == nil {
				top.keys = make(map[string]struct{})
			}
			top.keys[folded] = struct{}{}
			top.wantKey = false
			continue
		}
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].wantKey = true
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				if len(stack) >= maxDepth {
					return errors.New("JSON nested too deeply")
				}
				stack = append(stack, frame{object: d == '{', wantKey: d == '{'})
			case ']':
				stack = stack[:len(stack)-1]
				done = len(stack) == 0
			}
		}
	}
}

// foldKey maps a key to one representative of all the keys that
// strings.EqualFold (and so encoding/json's field matching) takes for it:
// each rune becomes the smallest rune of its case-folding orbit.
func foldKey(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		// The smallest rune of an ASCII letter's orbit is its upper case
		// (K for k and the Kelvin sign, S for s and the long s).
		return strings.ToUpper(s)
	}
	return strings.Map(func(r rune) rune {
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			m = min(m, f)
		}
		return m
	}, s)
}

// fields is a JSON object read by exact key. Lookups go through its
// methods, which insist on the JSON type, so that null or a number never
// passes for a string.
type fields map[string]json.RawMessage

// parseFields reads a JSON object already checked by checkJSON.
func parseFields(raw json.RawMessage) (fields, bool) {
	if len(raw) == 0 || raw[0] != '{' {
		return nil, false
	}
	var f fields
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, false
	}
	return f, true
}

// str returns the string under name; ok is false when it is there but not
// a string.
func (f fields) str(name string) (s string, present, ok bool) {
	raw, present := f[name]
	if !present {
		return "", false, true
	}
	if len(raw) == 0 || raw[0] != '"' {
		return "", true, false
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", true, false
	}
	return s, true, true
}

// integer returns the integer under name; ok is false when it is there but
// not an integer that fits in an int64 (fractions and exponents included).
func (f fields) integer(name string) (n int64, present, ok bool) {
	raw, present := f[name]
	if !present {
		return 0, false, true
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	return n, true, err == nil
}

// number returns the JSON number under name as a float64; ok is false
// when it is there but not a finite number.
func (f fields) number(name string) (x float64, present, ok bool) {
	raw, present := f[name]
	if !present {
		return 0, false, true
	}
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return 0, true, false
	}
	x, err := strconv.ParseFloat(string(raw), 64)
	return x, true, err == nil && !math.IsInf(x, 0) && !math.IsNaN(x)
}

// object returns the object under name.
func (f fields) object(name string) (o fields, present, ok bool) {
	raw, present := f[name]
	if !present {
		return nil, false, true
	}
	o, ok = parseFields(raw)
	return o, true, ok
}

// strings returns the array of strings under name; a lone string is taken
// as an array of one when single is true (as JWT aud and VC @context and
// type allow).
func (f fields) strings(name string, single bool) (ss []string, present, ok bool) {
	raw, present := f[name]
	if !present {
		return nil, false, true
	}
	if single && len(raw) > 0 && raw[0] == '"' {
		s, _, ok := f.str(name)
		return []string{s}, true, ok
	}
	if len(raw) == 0 || raw[0] != '[' {
		return nil, true, false
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		return nil, true, false
	}
	ss = make([]string, len(elems))
	for i, e := range elems {
		if len(e) == 0 || e[0] != '"' || json.Unmarshal(e, &ss[i]) != nil {
			return nil, true, false
		}
	}
	return ss, true, true
}

// maxNumericDate is the last second of year 9999: later dates are refused
// rather than overflow time arithmetic.
const maxNumericDate = 253402300799

// date returns the JWT NumericDate under name, whole seconds only.
func (f fields) date(name string) (t time.Time, present, ok bool) {
	n, present, ok := f.integer(name)
	if !present || !ok {
		return time.Time{}, present, ok
	}
	if n < 0 || n > maxNumericDate {
		return time.Time{}, true, false
	}
	return time.Unix(n, 0).UTC(), true, true
}
