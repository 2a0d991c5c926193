package ledger_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/trove-project/trove/did"
	"github.com/trove-project/trove/ledger"
)

// logFixture is a log of entries signed by one key, with the signed
// checkpoint of every size.
type logFixture struct {
	key     *did.Key
	entries [][]byte
	leaves  ledger.MemoryHashes
	notes   [][]byte // notes[n] is the checkpoint of size n
	cps     []*ledger.Checkpoint
}

func newLogFixture(tb testing.TB, n int) *logFixture {
	tb.Helper()
	k, _ := testKey(tb, 7)
	fx := &logFixture{key: k}
	tree := ledger.NewTree()
	for i := 0; i <= n; i++ {
		root, err := tree.Root()
		if err != nil {
			tb.Fatal(err)
		}
		cp := ledger.Checkpoint{Origin: k.DID(), Size: tree.Size(), Root: root}
		note, err := ledger.SignCheckpoint(k, cp)
		if err != nil {
			tb.Fatal(err)
		}
		fx.notes, fx.cps = append(fx.notes, note), append(fx.cps, &cp)
		if i == n {
			break
		}
		e, err := ledger.Entry{Type: ledger.JobRejected, Time: time.Unix(1700000000, 0).UTC(), Fields: map[string]string{"i": fmt.Sprint(i)}}.Marshal()
		if err != nil {
			tb.Fatal(err)
		}
		fx.entries, fx.leaves = append(fx.entries, e), append(fx.leaves, ledger.LeafHash(e))
		if _, err := tree.Append(ledger.LeafHash(e)); err != nil {
			tb.Fatal(err)
		}
	}
	return fx
}

func (fx *logFixture) consistency(tb testing.TB, from, to uint64) *ledger.Proof {
	tb.Helper()
	h, err := ledger.ConsistencyProof(context.Background(), fx.leaves, from, to)
	if err != nil {
		tb.Fatal(err)
	}
	return &ledger.Proof{From: from, Size: to, Hashes: h}
}

func TestVerifyExtends(t *testing.T) {
	fx := newLogFixture(t, 12)
	for from := uint64(1); from <= 12; from++ {
		for to := from; to <= 12; to++ {
			p := fx.consistency(t, from, to)
			// Through its JSON form, as a file would carry it.
			b, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := ledger.ParseProof(b)
			if err != nil {
				t.Fatal(err)
			}
			cp, err := ledger.VerifyExtends(fx.cps[from], fx.notes[to], parsed, fx.key.DID())
			if err != nil || cp.Size != to {
				t.Fatalf("%d→%d: %v", from, to, err)
			}
		}
	}
	good := fx.consistency(t, 5, 9)
	forked := *fx.cps[5]
	forked.Root = fx.cps[4].Root
	other, _ := testKey(t, 8)
	cases := []struct {
		name    string
		earlier *ledger.Checkpoint
		later   []byte
		proof   *ledger.Proof
		vault   string
		want    error
	}{
		{"smaller", fx.cps[9], fx.notes[5], good, fx.key.DID(), ledger.ErrInconsistent},
		{"forked root", &forked, fx.notes[9], good, fx.key.DID(), ledger.ErrInconsistent},
		{"same size other root", &forked, fx.notes[5], nil, fx.key.DID(), ledger.ErrInconsistent},
		{"no proof", fx.cps[5], fx.notes[9], nil, fx.key.DID(), ledger.ErrMalformed},
		{"proof for other sizes", fx.cps[5], fx.notes[10], good, fx.key.DID(), ledger.ErrMismatch},
		{"wrong proof", fx.cps[5], fx.notes[9], &ledger.Proof{From: 5, Size: 9, Hashes: fx.consistency(t, 4, 9).Hashes}, fx.key.DID(), ledger.ErrInconsistent},
		{"other vault", fx.cps[5], fx.notes[9], good, other.DID(), ledger.ErrBadSignature},
	}
	for _, tc := range cases {
		if _, err := ledger.VerifyExtends(tc.earlier, tc.later, tc.proof, tc.vault); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestParseProofRefusesMalformed(t *testing.T) {
	h := `"` + strings.Repeat("A", 43) + `="`
	cases := map[string]string{
		"not json":      `{`,
		"unknown key":   `{"size":1,"hashes":[],"x":1}`,
		"no hashes":     `{"size":1}`,
		"short hash":    `{"size":1,"hashes":["AAAA"]}`,
		"bad base64":    `{"size":1,"hashes":["!!"]}`,
		"too many":      `{"size":1,"hashes":[` + strings.Repeat(h+",", 65) + h + `]}`,
		"trailing data": `{"size":1,"hashes":[]}{}`,
		"key case":      `{"Size":1,"hashes":[]}`,
	}
	for name, in := range cases {
		if _, err := ledger.ParseProof([]byte(in)); !errors.Is(err, ledger.ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := ledger.ParseProof(make([]byte, ledger.MaxProofSize+1)); !errors.Is(err, ledger.ErrTooLarge) {
		t.Errorf("oversized: %v", err)
	}
}

func (fx *logFixture) entryProof(tb testing.TB, index, size uint64) []byte {
	tb.Helper()
	h, err := ledger.InclusionProof(context.Background(), fx.leaves, index, size)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := json.Marshal(ledger.EntryProof{Index: index, Entry: fx.entries[index], Checkpoint: string(fx.notes[size]), InclusionProof: h})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestEntryProof(t *testing.T) {
	fx := newLogFixture(t, 9)
	for size := uint64(1); size <= 9; size++ {
		for i := range size {
			e, cp, err := ledger.VerifyEntryProof(fx.entryProof(t, i, size), fx.key.DID())
			if err != nil || cp.Size != size || e.Fields["i"] != fmt.Sprint(i) {
				t.Fatalf("entry %d in %d: %v", i, size, err)
			}
		}
	}
	good := string(fx.entryProof(t, 3, 9))
	var w map[string]any
	if err := json.Unmarshal([]byte(good), &w); err != nil {
		t.Fatal(err)
	}
	other := string(fx.entryProof(t, 4, 9))
	var o map[string]any
	if err := json.Unmarshal([]byte(other), &o); err != nil {
		t.Fatal(err)
	}
	edit := func(k string, v any) []byte {
		m := map[string]any{}
		for kk, vv := range w {
			m[kk] = vv
		}
		m[k] = v
		b, _ := json.Marshal(m)
		return b
	}
	cases := map[string][]byte{
		"other entry":      edit("entry", o["entry"]),
		"other index":      edit("index", 4),
		"other checkpoint": edit("checkpoint", string(fx.notes[8])),
		"no proof":         edit("inclusion_proof", nil),
		"unknown key":      []byte(strings.Replace(good, `{`, `{"x":1,`, 1)),
	}
	for name, in := range cases {
		if _, _, err := ledger.VerifyEntryProof(in, fx.key.DID()); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
	other2, _ := testKey(t, 9)
	if _, _, err := ledger.VerifyEntryProof([]byte(good), other2.DID()); !errors.Is(err, ledger.ErrBadSignature) {
		t.Errorf("other vault: %v", err)
	}
}

func FuzzParseProof(f *testing.F) {
	fx := newLogFixture(f, 9)
	b, err := json.Marshal(fx.consistency(f, 3, 9))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"index":1,"size":2,"hashes":[]}`))
	f.Add([]byte(`{"size":1,"hashes":["AAAA"]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := ledger.ParseProof(in)
		if err != nil {
			return
		}
		if len(p.Hashes) > 65 {
			t.Fatalf("%d hashes", len(p.Hashes))
		}
		for _, h := range p.Hashes {
			if len(h) != ledger.HashSize {
				t.Fatalf("hash of %d bytes", len(h))
			}
		}
		// A parsed proof never verifies a fork of the fixture's log.
		if p.From == 3 && p.Size == 9 {
			forked := *fx.cps[3]
			forked.Root = fx.cps[2].Root
			if _, err := ledger.VerifyExtends(&forked, fx.notes[9], p, fx.key.DID()); err == nil {
				t.Fatal("a fork verified")
			}
		}
	})
}

func FuzzVerifyEntryProof(f *testing.F) {
	fx := newLogFixture(f, 9)
	good := fx.entryProof(f, 3, 9)
	f.Add(good)
	f.Add(flipped(good, 30))
	f.Add([]byte(`{"index":0,"entry":"","checkpoint":"","inclusion_proof":[]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		e, cp, err := ledger.VerifyEntryProof(in, fx.key.DID())
		if err != nil {
			return
		}
		// Only entries of the fixture's log can be proven in it.
		if cp.Origin != fx.key.DID() || e.Type != ledger.JobRejected {
			t.Fatalf("verified %+v in %+v", e, cp)
		}
	})
}
