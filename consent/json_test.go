package consent

import (
	"strings"
	"testing"
)

func TestCheckJSON(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{`{}`, true},
		{` {"a":1,"b":[1,{"a":2}],"c":{"a":null}} `, true},
		{`{"a":{"b":1},"b":{"b":2}}`, true},
		{`{"a":1,"a":2}`, false},
		{`{"a":1,"A":2}`, false},
		{`{"k":1,"\u212a":2}`, false}, // KELVIN SIGN folds to k
		{`{"a":1,"\u0061":2}`, false},
		{`{"o":{"x":1,"x":1}}`, false},
		{`{"l":[{"x":1,"x":1}]}`, false},
		{`[]`, false},
		{`"s"`, false},
		{`{}{}`, false},
		{`{} x`, false},
		{`{"a":}`, false},
		{`{"a":1`, false},
		{``, false},
		{`{"a":[[[[[[[[1]]]]]]]]}`, true},
		{`{"a":[[[[[[[[[1]]]]]]]]]}`, true},
		{`{"a":[[[[[[[[[[1]]]]]]]]]]}`, false},
		{`{"s":1,"\u017f":2}`, false}, // LATIN SMALL LETTER LONG S folds to s
	}
	for _, tc := range tests {
		err := checkJSON([]byte(tc.in), MaxDepth)
		if (err == nil) != tc.ok {
			t.Errorf("checkJSON(%s) = %v, want ok=%v", tc.in, err, tc.ok)
		}
	}
	deep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	if checkJSON([]byte(`{"a":`+deep+`}`), MaxDepth) == nil {
		t.Error("deep nesting accepted")
	}
}

func FuzzCheckJSON(f *testing.F) {
	f.Add([]byte(`{"a":[1,{"b":"c"}],"d":null}`))
	f.Add([]byte(`{"a":1,"A":2}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if checkJSON(data, MaxDepth) != nil {
			return
		}
		// Whatever checkJSON accepts, the exact-key reader reads.
		if _, ok := parseFields(data); !ok {
			t.Fatalf("accepted but unreadable: %q", data)
		}
	})
}
