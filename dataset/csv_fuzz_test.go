package dataset

import (
	"bytes"
	"encoding/csv"
	"errors"
	"testing"
)

func FuzzReadCSV(f *testing.F) {
	for _, seed := range []string{
		"",
		"a\n",
		"a,b\n1,2\n3,4\n",
		"a,b\n1,2.5\nx,\n",
		"t,c\n2024-01-02,x\n2024-01-02T03:04:05Z,\n",
		"t\n2024-01-02 03:04:05\nlater\n",
		"a,a\n1,1\n",
		"a,\n1,2\n",
		"a,b\n1\n",
		"a,b\n\"1\n2\",3\n\"x",
		"\uFEFFa\nNaN\nInf\n1e400\n",
		"a,b\n,\n,\n",
		"a\n9223372036854775807\n9223372036854775808\n-0\n",
	} {
		for force := range uint8(5) {
			f.Add([]byte(seed), force)
		}
	}
	// force, if not 0, forces a kind on the first column.
	f.Fuzz(func(t *testing.T, data []byte, force uint8) {
		opts := ReadOptions{MaxBytes: 1 << 16, MaxColumns: 64}
		kinds := []Kind{Integer, Float, Timestamp, Categorical}
		if header, err := csv.NewReader(bytes.NewReader(data)).Read(); err == nil && force%5 != 0 {
			opts.Types = map[string]Kind{header[0]: kinds[force%5-1]}
		}
		tab, err := ReadCSV(bytes.NewReader(data), opts)
		if err != nil {
			if tab != nil {
				t.Fatalf("ReadCSV returned a table with error %v", err)
			}
			var perr *ParseError
			var lerr *LimitError
			if !errors.As(err, &perr) && !errors.As(err, &lerr) {
				t.Fatalf("ReadCSV of bytes: error %v (%T) is neither a ParseError nor a LimitError", err, err)
			}
			return
		}
		if tab.Rows == 0 {
			t.Fatalf("ReadCSV returned a table with no rows")
		}
		if err := tab.Validate(); err != nil {
			t.Fatalf("ReadCSV returned an invalid table: %v", err)
		}
	})
}
