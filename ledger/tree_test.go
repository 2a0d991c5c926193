package ledger_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"

	tproof "github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/trove-project/trove/ledger"
)

func leaves(n int) ledger.MemoryHashes {
	m := make(ledger.MemoryHashes, n)
	for i := range m {
		m[i] = ledger.LeafHash([]byte(fmt.Sprintf("entry %d", i)))
	}
	return m
}

// refRoot is RFC 6962's recursive definition of the Merkle tree hash,
// written out independently of the compact range the ledger uses.
func refRoot(hs [][]byte) []byte {
	switch len(hs) {
	case 0:
		s := sha256.Sum256(nil)
		return s[:]
	case 1:
		return hs[0]
	}
	k := 1
	for k*2 < len(hs) {
		k *= 2
	}
	h := sha256.New()
	h.Write([]byte{1})
	h.Write(refRoot(hs[:k]))
	h.Write(refRoot(hs[k:]))
	return h.Sum(nil)
}

func TestLeafHashIsRFC6962(t *testing.T) {
	want := sha256.Sum256([]byte("\x00hello"))
	if got := ledger.LeafHash([]byte("hello")); !bytes.Equal(got, want[:]) {
		t.Fatalf("LeafHash = %x, want %x", got, want)
	}
}

func TestEmptyTreeRoot(t *testing.T) {
	root, err := ledger.NewTree().Root()
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(nil)
	if !bytes.Equal(root, want[:]) {
		t.Fatalf("empty root = %x, want sha256(\"\") = %x", root, want)
	}
}

// TestTreeAndInclusion builds trees of 1..70 leaves and checks every root
// against the recursive definition and every inclusion proof with
// transparency-dev/merkle's verifier directly.
func TestTreeAndInclusion(t *testing.T) {
	ctx := context.Background()
	const max = 70
	all := leaves(max)
	tree := ledger.NewTree()
	for size := 1; size <= max; size++ {
		idx, err := tree.Append(all[size-1])
		if err != nil {
			t.Fatal(err)
		}
		if idx != uint64(size-1) || tree.Size() != uint64(size) {
			t.Fatalf("append %d: index %d size %d", size-1, idx, tree.Size())
		}
		root, err := tree.Root()
		if err != nil {
			t.Fatal(err)
		}
		if want := refRoot(all[:size]); !bytes.Equal(root, want) {
			t.Fatalf("size %d: root %x, want %x", size, root, want)
		}
		for i := 0; i < size; i++ {
			p, err := ledger.InclusionProof(ctx, all, uint64(i), uint64(size))
			if err != nil {
				t.Fatalf("size %d index %d: %v", size, i, err)
			}
			if err := tproof.VerifyInclusion(rfc6962.DefaultHasher, uint64(i), uint64(size), all[i], p, root); err != nil {
				t.Fatalf("size %d index %d: merkle verifier: %v", size, i, err)
			}
			if err := ledger.VerifyInclusion(all[i], uint64(i), uint64(size), p, root); err != nil {
				t.Fatalf("size %d index %d: %v", size, i, err)
			}
			if size > 1 {
				other := (i + 1) % size
				if err := ledger.VerifyInclusion(all[i], uint64(other), uint64(size), p, root); !errors.Is(err, ledger.ErrNotIncluded) {
					t.Fatalf("size %d: proof of %d accepted at index %d: %v", size, i, other, err)
				}
			}
		}
	}
}

func TestVerifyInclusionRefusesTampering(t *testing.T) {
	ctx := context.Background()
	all := leaves(13)
	root := refRoot(all)
	p, err := ledger.InclusionProof(ctx, all, 5, 13)
	if err != nil {
		t.Fatal(err)
	}
	for i := range p {
		for _, bit := range []int{0, 31} {
			q := bytes.Clone(bytes.Join(p, nil))
			q[i*32+bit] ^= 0x80
			tampered := make([][]byte, len(p))
			for j := range p {
				tampered[j] = q[j*32 : (j+1)*32]
			}
			if err := ledger.VerifyInclusion(all[5], 5, 13, tampered, root); !errors.Is(err, ledger.ErrNotIncluded) {
				t.Errorf("proof hash %d byte %d flipped: %v", i, bit, err)
			}
		}
	}
	cases := map[string]struct {
		leaf        []byte
		index, size uint64
		proof       [][]byte
		root        []byte
		want        error
	}{
		"short proof":       {all[5], 5, 13, p[:len(p)-1], root, ledger.ErrNotIncluded},
		"long proof":        {all[5], 5, 13, append(p[:len(p):len(p)], root), root, ledger.ErrNotIncluded},
		"other leaf":        {all[6], 5, 13, p, root, ledger.ErrNotIncluded},
		"other root":        {all[5], 5, 13, p, refRoot(all[:12]), ledger.ErrNotIncluded},
		"other shape":       {all[5], 5, 6, p, root, ledger.ErrNotIncluded},
		"index = size":      {all[5], 13, 13, p, root, ledger.ErrNotIncluded},
		"short leaf hash":   {all[5][:31], 5, 13, p, root, ledger.ErrMalformed},
		"long root":         {all[5], 5, 13, p, append(bytes.Clone(root), 0), ledger.ErrMalformed},
		"short proof hash":  {all[5], 5, 13, [][]byte{p[0][:31], p[1], p[2], p[3]}, root, ledger.ErrMalformed},
		"too many proof hs": {all[5], 5, 13, make([][]byte, 66), root, ledger.ErrMalformed},
	}
	for name, c := range cases {
		if err := ledger.VerifyInclusion(c.leaf, c.index, c.size, c.proof, c.root); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
	}
}

// TestConsistency checks every pair of sizes up to 40 with
// transparency-dev/merkle's verifier directly and with the ledger's, and
// that tampering with either root or any proof hash is detected.
func TestConsistency(t *testing.T) {
	ctx := context.Background()
	const max = 40
	all := leaves(max)
	for s2 := 0; s2 <= max; s2++ {
		root2 := refRoot(all[:s2])
		for s1 := 0; s1 <= s2; s1++ {
			root1 := refRoot(all[:s1])
			p, err := ledger.ConsistencyProof(ctx, all, uint64(s1), uint64(s2))
			if err != nil {
				t.Fatalf("%d→%d: %v", s1, s2, err)
			}
			if err := tproof.VerifyConsistency(rfc6962.DefaultHasher, uint64(s1), uint64(s2), p, root1, root2); err != nil {
				t.Fatalf("%d→%d: merkle verifier: %v", s1, s2, err)
			}
			if err := ledger.VerifyConsistency(uint64(s1), uint64(s2), p, root1, root2); err != nil {
				t.Fatalf("%d→%d: %v", s1, s2, err)
			}
			if s1 == 0 {
				continue // every tree extends the empty one
			}
			bad := flipped(root1, 7)
			if err := ledger.VerifyConsistency(uint64(s1), uint64(s2), p, bad, root2); !errors.Is(err, ledger.ErrInconsistent) {
				t.Fatalf("%d→%d: rewritten old root accepted: %v", s1, s2, err)
			}
			if s1 == s2 {
				continue
			}
			bad = flipped(root2, 7)
			if err := ledger.VerifyConsistency(uint64(s1), uint64(s2), p, root1, bad); !errors.Is(err, ledger.ErrInconsistent) {
				t.Fatalf("%d→%d: forked new root accepted: %v", s1, s2, err)
			}
			for i := range p {
				q := append([][]byte(nil), p...)
				q[i] = flipped(q[i], 3)
				if err := ledger.VerifyConsistency(uint64(s1), uint64(s2), q, root1, root2); !errors.Is(err, ledger.ErrInconsistent) {
					t.Fatalf("%d→%d: proof hash %d flipped: %v", s1, s2, i, err)
				}
			}
		}
	}
	if err := ledger.VerifyConsistency(5, 4, nil, refRoot(all[:5]), refRoot(all[:4])); !errors.Is(err, ledger.ErrInconsistent) {
		t.Errorf("shrinking log accepted: %v", err)
	}
}

func TestProofOutOfRange(t *testing.T) {
	ctx := context.Background()
	all := leaves(10)
	if _, err := ledger.InclusionProof(ctx, all, 10, 10); !errors.Is(err, ledger.ErrOutOfRange) {
		t.Errorf("index = size: %v", err)
	}
	if _, err := ledger.InclusionProof(ctx, all, 3, 11); !errors.Is(err, ledger.ErrOutOfRange) {
		t.Errorf("size beyond the log: %v", err)
	}
	if _, err := ledger.ConsistencyProof(ctx, all, 5, 4); !errors.Is(err, ledger.ErrOutOfRange) {
		t.Errorf("size1 > size2: %v", err)
	}
	if _, err := ledger.ConsistencyProof(ctx, all, 3, 11); !errors.Is(err, ledger.ErrOutOfRange) {
		t.Errorf("size2 beyond the log: %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := ledger.InclusionProof(cancelled, all, 3, 10); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

// shortReader returns one hash too few: a storage bug must not become a
// wrong proof.
type shortReader struct{ ledger.MemoryHashes }

func (r shortReader) LeafHashes(ctx context.Context, start, end uint64) ([][]byte, error) {
	hs, err := r.MemoryHashes.LeafHashes(ctx, start, end)
	if len(hs) > 0 {
		hs = hs[1:]
	}
	return hs, err
}

func TestProofRefusesShortReads(t *testing.T) {
	if _, err := ledger.InclusionProof(context.Background(), shortReader{leaves(10)}, 3, 10); err == nil {
		t.Fatal("proof built from a reader that lost a leaf")
	}
}

func TestRestoreTree(t *testing.T) {
	all := leaves(40)
	for size := 0; size <= 30; size++ {
		fresh := ledger.NewTree()
		for _, h := range all[:size] {
			if _, err := fresh.Append(h); err != nil {
				t.Fatal(err)
			}
		}
		restored, err := ledger.RestoreTree(uint64(size), fresh.Hashes())
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		// Appending to the restored tree must not disturb the original:
		// Hashes returns copies.
		before, _ := fresh.Root()
		for _, h := range all[size:] {
			if _, err := restored.Append(h); err != nil {
				t.Fatal(err)
			}
		}
		after, _ := fresh.Root()
		if !bytes.Equal(before, after) || !bytes.Equal(before, refRoot(all[:size])) {
			t.Fatalf("size %d: original tree changed by appends to its restored copy", size)
		}
		got, _ := restored.Root()
		if !bytes.Equal(got, refRoot(all)) || restored.Size() != 40 {
			t.Fatalf("restored from size %d: root %x size %d", size, got, restored.Size())
		}
	}
	good := ledger.NewTree()
	for _, h := range all[:7] {
		good.Append(h)
	}
	hs := good.Hashes()
	if _, err := ledger.RestoreTree(8, hs); !errors.Is(err, ledger.ErrMalformed) {
		t.Errorf("hash count not fitting size: %v", err)
	}
	hs[1] = hs[1][:16]
	if _, err := ledger.RestoreTree(7, hs); !errors.Is(err, ledger.ErrMalformed) {
		t.Errorf("short hash: %v", err)
	}
	if _, err := ledger.NewTree().Append(make([]byte, 31)); !errors.Is(err, ledger.ErrMalformed) {
		t.Errorf("append of a short hash: %v", err)
	}
}
