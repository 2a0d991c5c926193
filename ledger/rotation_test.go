package ledger_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/trove-project/trove/did"
	"github.com/trove-project/trove/ledger"
)

var rotationTime = time.Unix(1_800_000_000, 0).UTC()

// chainLog is a log kept in memory the way the vault keeps it, with key
// rotations in it: what the vault's GET /v1/did/rotations serves, built
// independently of the vault.
type chainLog struct {
	t      testing.TB
	tree   *ledger.Tree
	leaves ledger.MemoryHashes
	links  []ledger.RotationLink
	prev   uint64 // the previous handover's size
}

func newChainLog(t testing.TB, filler int) *chainLog {
	l := &chainLog{t: t, tree: ledger.NewTree()}
	l.fill(filler)
	return l
}

func (l *chainLog) append(b []byte) {
	h := ledger.LeafHash(b)
	if _, err := l.tree.Append(h); err != nil {
		l.t.Fatal(err)
	}
	l.leaves = append(l.leaves, h)
}

func (l *chainLog) fill(n int) {
	for i := range n {
		e := ledger.Entry{Type: ledger.OwnerLogin, Time: rotationTime, Subject: "did:example:owner", Fields: map[string]string{"n": fmt.Sprint(len(l.leaves), i)}}
		b, err := e.Marshal()
		if err != nil {
			l.t.Fatal(err)
		}
		l.append(b)
	}
}

func (l *chainLog) root() []byte {
	r, err := l.tree.Root()
	if err != nil {
		l.t.Fatal(err)
	}
	return r
}

// rotate logs a rotation from old to next as the vault does and returns
// its link.
func (l *chainLog) rotate(old, next *did.Key) ledger.RotationLink {
	t := l.t
	ctx := context.Background()
	size := l.tree.Size()
	r := ledger.Rotation{ID: fmt.Sprintf("urn:uuid:rot-%d", size), Old: old.DID(), New: next.DID(), IssuedAt: rotationTime, LogSize: size, LogRoot: l.root()}
	st, co, err := ledger.SignRotation(old, next, r)
	if err != nil {
		t.Fatal(err)
	}
	entry, err := ledger.RotationEntry(r, ledger.StatementHash(st)).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	l.append(entry)
	cp := ledger.Checkpoint{Size: l.tree.Size(), Root: l.root()}
	cp.Origin = old.DID()
	handover, err := ledger.SignCheckpoint(old, cp)
	if err != nil {
		t.Fatal(err)
	}
	cp.Origin = next.DID()
	successor, err := ledger.SignCheckpoint(next, cp)
	if err != nil {
		t.Fatal(err)
	}
	link := ledger.RotationLink{Statement: st, Cosignature: co, Index: size, Entry: entry, Handover: string(handover), Successor: string(successor)}
	if link.InclusionProof, err = ledger.InclusionProof(ctx, l.leaves, size, cp.Size); err != nil {
		t.Fatal(err)
	}
	if link.StatementProof, err = ledger.ConsistencyProof(ctx, l.leaves, size, cp.Size); err != nil {
		t.Fatal(err)
	}
	if l.prev > 0 {
		if link.ChainProof, err = ledger.ConsistencyProof(ctx, l.leaves, l.prev, cp.Size); err != nil {
			t.Fatal(err)
		}
	}
	l.prev = cp.Size
	l.links = append(l.links, link)
	return link
}

func TestRotationRoundTrip(t *testing.T) {
	old, _ := testKey(t, 1)
	next, _ := testKey(t, 2)
	root := bytes.Repeat([]byte{7}, ledger.HashSize)
	st, co, err := ledger.SignRotation(old, next, ledger.Rotation{ID: "urn:uuid:x", Old: old.DID(), New: next.DID(), IssuedAt: rotationTime, LogSize: 5, LogRoot: root})
	if err != nil {
		t.Fatal(err)
	}
	r, err := ledger.VerifyRotation(st, co)
	if err != nil {
		t.Fatal(err)
	}
	if r.Old != old.DID() || r.New != next.DID() || r.LogSize != 5 || !bytes.Equal(r.LogRoot, root) || !r.IssuedAt.Equal(rotationTime) || r.ID != "urn:uuid:x" {
		t.Fatalf("verified %+v", r)
	}
	hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(st, ".")[0])
	if !strings.Contains(string(hdr), `"typ":"trove-rotation+jwt"`) {
		t.Fatalf("statement header %s", hdr)
	}
	// The old key cannot sign a rotation to itself, nor a stranger for it.
	if _, _, err := ledger.SignRotation(old, old, ledger.Rotation{ID: "x", Old: old.DID(), New: old.DID(), IssuedAt: rotationTime, LogRoot: root}); err == nil {
		t.Fatal("a rotation to the same DID was signed")
	}
	if _, _, err := ledger.SignRotation(next, next, ledger.Rotation{ID: "x", Old: old.DID(), New: next.DID(), IssuedAt: rotationTime, LogRoot: root}); err == nil {
		t.Fatal("a rotation named another signer")
	}
}

// Every forged statement is refused, each for its own reason.
func TestVerifyRotationRefusesForgeries(t *testing.T) {
	old, _ := testKey(t, 1)
	next, _ := testKey(t, 2)
	mallory, _ := testKey(t, 3)
	root := bytes.Repeat([]byte{7}, ledger.HashSize)
	r := ledger.Rotation{ID: "urn:uuid:x", Old: old.DID(), New: next.DID(), IssuedAt: rotationTime, LogSize: 5, LogRoot: root}
	st, co, err := ledger.SignRotation(old, next, r)
	if err != nil {
		t.Fatal(err)
	}
	// mallory, holding neither key, names old's successor: she can sign
	// only with her own key.
	forgedSt, forgedCo, err := ledger.SignRotation(mallory, next, ledger.Rotation{ID: "urn:uuid:x", Old: mallory.DID(), New: next.DID(), IssuedAt: rotationTime, LogSize: 5, LogRoot: root})
	if err != nil {
		t.Fatal(err)
	}
	// A statement by old to mallory's key, co-signed by mallory: valid, but
	// a different statement from st.
	otherSt, otherCo, err := ledger.SignRotation(old, mallory, ledger.Rotation{ID: "urn:uuid:y", Old: old.DID(), New: mallory.DID(), IssuedAt: rotationTime, LogSize: 5, LogRoot: root})
	if err != nil {
		t.Fatal(err)
	}
	_, coOther, err := ledger.SignRotation(old, next, ledger.Rotation{ID: "urn:uuid:z", Old: old.DID(), New: next.DID(), IssuedAt: rotationTime, LogSize: 6, LogRoot: root})
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(st, ".")
	// The payload re-signed by mallory under old's name (iss old).
	malloryAsOld := parts[0] + "." + parts[1] + "." + strings.Split(forgedSt, ".")[2]
	typJWT := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"EdDSA","kid":"`+old.KeyID()+`","typ":"JWT"}`)) + "." + parts[1] + "." + parts[2]
	for name, c := range map[string]struct {
		st, co string
		want   error
	}{
		"not signed by the old key":       {malloryAsOld, co, ledger.ErrBadSignature},
		"not co-signed by the new key":    {st, strings.Split(co, ".")[0] + "." + strings.Split(co, ".")[1] + "." + strings.Split(forgedCo, ".")[2], ledger.ErrBadSignature},
		"co-signature of another payload": {st, coOther, ledger.ErrMismatch},
		"co-signature by another key":     {st, otherCo, ledger.ErrWrongVault},
		"statement swapped":               {otherSt, co, ledger.ErrWrongVault},
		"typ JWT, not a rotation":         {typJWT, co, ledger.ErrMalformed},
		"too large":                       {st + strings.Repeat("A", ledger.MaxRotationSize), co, ledger.ErrTooLarge},
		"not three parts":                 {parts[0] + "." + parts[1], co, ledger.ErrMalformed},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ledger.VerifyRotation(c.st, c.co); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

func TestRotationChainVerifiesOffline(t *testing.T) {
	k1, _ := testKey(t, 1)
	k2, _ := testKey(t, 2)
	k3, _ := testKey(t, 3)
	l := newChainLog(t, 5)
	l.rotate(k1, k2)
	l.fill(3)
	l.rotate(k2, k3)
	b, err := ledger.MarshalRotationChain(l.links)
	if err != nil {
		t.Fatal(err)
	}
	links, err := ledger.ParseRotationChain(b)
	if err != nil {
		t.Fatal(err)
	}
	v, err := ledger.VerifyRotationChain(links, k1.DID())
	if err != nil {
		t.Fatal(err)
	}
	if len(v) != 2 || v[1].Rotation.New != k3.DID() || v[0].Handover.Size != 6 || v[1].Handover.Size != 10 || v[1].Successor.Origin != k3.DID() {
		t.Fatalf("verified %+v", v)
	}
	// From the middle DID, one link.
	if v, err := ledger.VerifyRotationChain(links, k2.DID()); err != nil || len(v) != 1 {
		t.Fatalf("from k2: %d links, %v", len(v), err)
	}
	// No link away from the current DID, nor from a stranger.
	for _, from := range []string{k3.DID(), "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"} {
		if _, err := ledger.VerifyRotationChain(links, from); !errors.Is(err, ledger.ErrWrongVault) {
			t.Fatalf("from %s: %v", from, err)
		}
	}
}

// A chain is refused when any link is forged or the links do not hang
// together.
func TestVerifyRotationChainRefusesForgeries(t *testing.T) {
	k1, _ := testKey(t, 1)
	k2, _ := testKey(t, 2)
	k3, _ := testKey(t, 3)
	mallory, _ := testKey(t, 9)
	good := func() *chainLog {
		l := newChainLog(t, 5)
		l.rotate(k1, k2)
		l.fill(3)
		l.rotate(k2, k3)
		return l
	}
	// Another log, forked from the same start: its handover is over
	// another tree.
	fork := newChainLog(t, 6)
	forkLink := fork.rotate(k1, k2)
	checkpointOf := func(k *did.Key, size uint64, root []byte) string {
		b, err := ledger.SignCheckpoint(k, ledger.Checkpoint{Origin: k.DID(), Size: size, Root: root})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for name, c := range map[string]struct {
		edit func(l *chainLog)
		want error
	}{
		"handover over another tree": {func(l *chainLog) {
			l.links[0].Handover = forkLink.Handover
		}, ledger.ErrMismatch},
		"handover not signed by the old DID": {func(l *chainLog) {
			cp, _ := ledger.OpenCheckpoint([]byte(l.links[0].Handover), k1.DID())
			l.links[0].Handover = checkpointOf(mallory, cp.Size, cp.Root)
		}, ledger.ErrBadSignature},
		"successor over another tree": {func(l *chainLog) {
			l.links[0].Successor = checkpointOf(k2, 6, bytes.Repeat([]byte{1}, 32))
		}, ledger.ErrInconsistent},
		"entry of another statement": {func(l *chainLog) {
			l.links[0].Entry = l.links[1].Entry
		}, ledger.ErrMismatch},
		"second link not by the first's successor": {func(l *chainLog) {
			ml := newChainLog(t, 1)
			l.links[1] = ml.rotate(mallory, k3)
		}, ledger.ErrWrongVault},
		"second handover does not extend the first": {func(l *chainLog) {
			l.links[1].ChainProof = l.links[1].StatementProof
		}, ledger.ErrInconsistent},
		"statement not co-signed": {func(l *chainLog) {
			l.links[0].Cosignature = l.links[1].Cosignature
		}, ledger.ErrWrongVault},
	} {
		t.Run(name, func(t *testing.T) {
			l := good()
			c.edit(l)
			if _, err := ledger.VerifyRotationChain(l.links, k1.DID()); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

func TestParseRotationChainLimits(t *testing.T) {
	k1, _ := testKey(t, 1)
	k2, _ := testKey(t, 2)
	l := newChainLog(t, 2)
	link := l.rotate(k1, k2)
	one, err := json.Marshal(link)
	if err != nil {
		t.Fatal(err)
	}
	many := `{"rotations":[` + strings.Repeat(string(one)+",", ledger.MaxRotationLinks) + string(one) + `]}`
	for name, c := range map[string]struct {
		in   string
		want error
	}{
		"over 64 links":   {many, ledger.ErrTooLarge},
		"over 1 MiB":      {`{"rotations":[],"x":"` + strings.Repeat("a", ledger.MaxRotationChainSize) + `"}`, ledger.ErrTooLarge},
		"unknown field":   {`{"rotations":[],"more":1}`, ledger.ErrMalformed},
		"duplicate field": {`{"rotations":[],"rotations":[]}`, ledger.ErrMalformed},
		"no list":         {`{}`, ledger.ErrMalformed},
		"null list":       {`{"rotations":null}`, ledger.ErrMalformed},
		"short hash":      {strings.Replace(`{"rotations":[`+string(one)+`]}`, `"inclusion_proof":["`, `"inclusion_proof":["AAAA",  "`, 1), ledger.ErrMalformed},
		"link field case": {strings.Replace(`{"rotations":[`+string(one)+`]}`, `"statement":`, `"Statement":`, 1), ledger.ErrMalformed},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ledger.ParseRotationChain([]byte(c.in)); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	if links, err := ledger.ParseRotationChain([]byte(`{"rotations":[]}`)); err != nil || len(links) != 0 {
		t.Fatalf("empty chain: %v, %v", links, err)
	}
}

func FuzzVerifyRotation(f *testing.F) {
	old, _ := testKey(f, 1)
	next, _ := testKey(f, 2)
	st, co, err := ledger.SignRotation(old, next, ledger.Rotation{ID: "urn:uuid:x", Old: old.DID(), New: next.DID(), IssuedAt: rotationTime, LogSize: 5, LogRoot: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(st, co)
	f.Add(st, st)
	f.Add("", "")
	f.Add("a.b.c", "a.b.c")
	f.Fuzz(func(t *testing.T, st, co string) {
		r, err := ledger.VerifyRotation(st, co)
		if err != nil {
			return
		}
		// Whatever verifies is a statement by old to next: no one else holds
		// these keys.
		if r.Old != old.DID() || r.New != next.DID() {
			t.Fatalf("verified a rotation %s → %s", r.Old, r.New)
		}
	})
}

func FuzzParseRotationChain(f *testing.F) {
	k1, _ := testKey(f, 1)
	k2, _ := testKey(f, 2)
	l := &chainLog{t: f, tree: ledger.NewTree()}
	l.fill(3)
	l.rotate(k1, k2)
	b, err := ledger.MarshalRotationChain(l.links)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"rotations":[]}`))
	f.Add([]byte(`{"rotations":[{}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		links, err := ledger.ParseRotationChain(b)
		if err != nil {
			return
		}
		if len(links) > ledger.MaxRotationLinks {
			t.Fatalf("%d links parsed", len(links))
		}
		v, err := ledger.VerifyRotationChain(links, k1.DID())
		if err == nil && (len(v) == 0 || v[0].Rotation.Old != k1.DID()) {
			t.Fatalf("verified a chain that does not start at k1: %+v", v)
		}
	})
}
