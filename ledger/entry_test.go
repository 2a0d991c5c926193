package ledger_test

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/trove-project/trove/ledger"
)

func sampleEntry() ledger.Entry {
	return ledger.Entry{
		Type:    ledger.JobAccepted,
		Time:    time.Date(2025, 3, 1, 12, 30, 45, 999, time.FixedZone("CET", 3600)),
		Subject: "did:key:z6MkTest",
		Fields:  map[string]string{"job": "job_1", "consent": "c<1>", "algorithm": "builtin:stats@1"},
	}
}

func TestEntryMarshalIsCanonical(t *testing.T) {
	b, err := sampleEntry().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"type":"job.accepted","time":"2025-03-01T11:30:45Z","subject":"did:key:z6MkTest",` +
		`"fields":{"algorithm":"builtin:stats@1","consent":"c\u003c1\u003e","job":"job_1"}}`
	if string(b) != want {
		t.Fatalf("Marshal =\n%s\nwant\n%s", b, want)
	}
	e, err := ledger.ParseEntry(b)
	if err != nil {
		t.Fatal(err)
	}
	wantEntry := sampleEntry()
	wantEntry.Time = time.Date(2025, 3, 1, 11, 30, 45, 0, time.UTC)
	if !reflect.DeepEqual(*e, wantEntry) {
		t.Fatalf("ParseEntry = %+v, want %+v", *e, wantEntry)
	}
	again, err := e.Marshal()
	if err != nil || !bytes.Equal(again, b) {
		t.Fatalf("re-Marshal = %s, %v", again, err)
	}
}

func TestEntryWithoutSubjectOrFields(t *testing.T) {
	e := ledger.Entry{Type: ledger.JobRejected, Time: time.Unix(1700000000, 0)}
	b, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"type":"job.rejected","time":"2023-11-14T22:13:20Z"}`; string(b) != want {
		t.Fatalf("Marshal = %s, want %s", b, want)
	}
	if _, err := ledger.ParseEntry(b); err != nil {
		t.Fatal(err)
	}
}

func TestEntryMarshalRefuses(t *testing.T) {
	ok := sampleEntry()
	cases := map[string]func(*ledger.Entry){
		"unknown type":      func(e *ledger.Entry) { e.Type = "job.exploded" },
		"zero time":         func(e *ledger.Entry) { e.Time = time.Time{} },
		"year 10000":        func(e *ledger.Entry) { e.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
		"subject not UTF-8": func(e *ledger.Entry) { e.Subject = "did:\xff" },
		"empty field name":  func(e *ledger.Entry) { e.Fields = map[string]string{"": "x"} },
		"value not UTF-8":   func(e *ledger.Entry) { e.Fields = map[string]string{"job": "\xc3"} },
		"too large":         func(e *ledger.Entry) { e.Fields = map[string]string{"x": strings.Repeat("a", ledger.MaxEntrySize)} },
	}
	for name, mutate := range cases {
		e := ok
		mutate(&e)
		if _, err := e.Marshal(); err == nil {
			t.Errorf("%s: Marshal succeeded", name)
		}
	}
}

func TestParseEntryRefuses(t *testing.T) {
	cases := map[string]struct {
		in   string
		want error
	}{
		"not JSON":         {`job.accepted`, ledger.ErrMalformed},
		"array":            {`["job.accepted"]`, ledger.ErrMalformed},
		"unknown field":    {`{"type":"job.accepted","time":"2025-03-01T11:30:45Z","extra":"x"}`, ledger.ErrMalformed},
		"field case":       {`{"Type":"job.accepted","time":"2025-03-01T11:30:45Z"}`, ledger.ErrMalformed},
		"duplicate field":  {`{"type":"job.accepted","type":"job.accepted","time":"2025-03-01T11:30:45Z"}`, ledger.ErrMalformed},
		"unknown type":     {`{"type":"job.exploded","time":"2025-03-01T11:30:45Z"}`, ledger.ErrMalformed},
		"fractional time":  {`{"type":"job.accepted","time":"2025-03-01T11:30:45.5Z"}`, ledger.ErrMalformed},
		"offset time":      {`{"type":"job.accepted","time":"2025-03-01T12:30:45+01:00"}`, ledger.ErrMalformed},
		"no time":          {`{"type":"job.accepted"}`, ledger.ErrMalformed},
		"field order":      {`{"time":"2025-03-01T11:30:45Z","type":"job.accepted"}`, ledger.ErrMalformed},
		"whitespace":       {`{"type": "job.accepted","time":"2025-03-01T11:30:45Z"}`, ledger.ErrMalformed},
		"trailing data":    {`{"type":"job.accepted","time":"2025-03-01T11:30:45Z"} {}`, ledger.ErrMalformed},
		"trailing newline": {"{\"type\":\"job.accepted\",\"time\":\"2025-03-01T11:30:45Z\"}\n", ledger.ErrMalformed},
		"empty fields":     {`{"type":"job.accepted","time":"2025-03-01T11:30:45Z","fields":{}}`, ledger.ErrMalformed},
		"unsorted fields":  {`{"type":"job.accepted","time":"2025-03-01T11:30:45Z","fields":{"b":"1","a":"2"}}`, ledger.ErrMalformed},
		"duplicate key":    {`{"type":"job.accepted","time":"2025-03-01T11:30:45Z","fields":{"a":"1","a":"2"}}`, ledger.ErrMalformed},
		"unescaped <":      {`{"type":"job.accepted","time":"2025-03-01T11:30:45Z","fields":{"a":"<"}}`, ledger.ErrMalformed},
		"invalid UTF-8":    {"{\"type\":\"job.accepted\",\"time\":\"2025-03-01T11:30:45Z\",\"subject\":\"\xff\"}", ledger.ErrMalformed},
		"too large":        {strings.Repeat(" ", ledger.MaxEntrySize+1), ledger.ErrTooLarge},
	}
	for name, c := range cases {
		if _, err := ledger.ParseEntry([]byte(c.in)); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
	}
}

func FuzzParseEntry(f *testing.F) {
	b, err := sampleEntry().Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"type":"job.rejected","time":"2023-11-14T22:13:20Z"}`))
	f.Add([]byte(`{"type":"job.accepted","time":"2025-03-01T11:30:45Z","fields":{"a":"1","a":"2"}}`))
	f.Add([]byte(`{"type":"run.finished","time":"2025-03-01T11:30:45.5Z"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		e, err := ledger.ParseEntry(in)
		if err != nil {
			return
		}
		// Whatever parses is canonical: it re-encodes to the same bytes.
		out, err := e.Marshal()
		if err != nil {
			t.Fatalf("parsed entry does not marshal: %v", err)
		}
		if !bytes.Equal(out, in) {
			t.Fatalf("parsed %q re-encodes as %q", in, out)
		}
	})
}
